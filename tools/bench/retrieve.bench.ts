import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { readCweCatalog, readSecEvalScenarios } from '@rescue/datasets';
import { KbDirectory, OFFLINE_CWE_FACETS, apiText, buildKnowledgeBase, localEmbedder, nodeText, offlineQuery } from '@rescue/knowledge';
import { DEFAULT_RETRIEVAL, HierarchicalRetriever, type IndexedExample, type IndexedNode, LanceKnowledgeIndex, LsaEmbedder } from '@rescue/retrieval';
import { Slicer } from '@rescue/slicing';

// Retrieval latency per level on the embedded backend at 1×, 10× and 100× the shared KB (nodes and
// examples replicated under new ids into fresh LanceDB tables), with the dev-eval scenarios as
// queries (offline mode), all in one run.

const shared = resolve(__dirname, '../../../../shared/data');
const SCALES = [1, 10, 100];
const ROUNDS = 3;

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
};

async function main(): Promise<void> {
  if (!existsSync(join(shared, 'kb-source')) || !existsSync(join(shared, 'dev-eval'))) {
    process.stdout.write(`bench:retrieve skipped: ${shared} (kb-source, dev-eval) is absent\n`);
    return;
  }
  const work = mkdtempSync(join(tmpdir(), 'rescue-bench-retrieve-'));
  try {
    const catalog = await readCweCatalog(join(shared, 'cwe', 'cwe-1000-research-view.csv'));
    const built = await buildKnowledgeBase({ sources: [join(shared, 'kb-source')], kbDir: join(work, 'kb'), catalog, clusterBy: 'language-cwe', catalogOnlyNodes: true, hops: 2, maxLineBytes: 8 << 20, embedder: localEmbedder });
    const dir = new KbDirectory(join(work, 'kb'));
    const versionDir = dir.versionDir(built.manifest.version);
    const embedder = LsaEmbedder.fromJSON(await readFile(join(versionDir, 'embedder.json'), 'utf8'));
    const nodes = await dir.nodes();
    const examples = await dir.examples();
    const [causeVecs, codeVecs] = [await embedder.embed(nodes.map((n) => `${n.name ?? ''}\n${n.cause}`)), await embedder.embed(examples.map((e) => e.slicedSecure))];
    const slicer = await Slicer.create();
    const tasks = await readSecEvalScenarios(join(shared, 'dev-eval', 'safecoder-sec-eval'));
    const queries = await Promise.all(tasks.map((t) => offlineQuery(t, slicer)));
    process.stdout.write(`bench:retrieve: ${queries.length} dev-eval queries (offline: CWE facets ${OFFLINE_CWE_FACETS.join(', ')}), ${ROUNDS} rounds, LanceDB embedded\n`);
    for (const scale of SCALES) {
      const scaledDir = join(work, `x${scale}`);
      const rn: IndexedNode[] = [];
      const re: IndexedExample[] = [];
      for (let r = 0; r < scale; r += 1) {
        const sfx = r === 0 ? '' : `#${r}`;
        nodes.forEach((n, i) => rn.push({ id: `${n.id}${sfx}`, cwe: n.cwe, language: n.language ?? '', text: nodeText(n), apiText: apiText(n.apiNames), causeVector: causeVecs[i] }));
        examples.forEach((e, i) => re.push({ id: `${e.id}${sfx}`, nodeId: `${e.cweNodeId}${sfx}`, cwe: e.cwe, language: e.language, apiText: apiText(e.apiNames), codeText: e.searchText, codeVector: codeVecs[i] }));
      }
      const t = performance.now();
      await LanceKnowledgeIndex.write(scaledDir, rn, re);
      const writeS = (performance.now() - t) / 1000;
      const retriever = new HierarchicalRetriever(await LanceKnowledgeIndex.open(scaledDir), embedder, { ...DEFAULT_RETRIEVAL, cweFacets: OFFLINE_CWE_FACETS });
      for (const q of queries.slice(0, 5)) await retriever.retrieve(q);
      const cwe: number[] = [];
      const code: number[] = [];
      const total: number[] = [];
      const t0 = performance.now();
      for (let round = 0; round < ROUNDS; round += 1) {
        for (const q of queries) {
          const s = performance.now();
          const r = await retriever.retrieve(q);
          total.push(performance.now() - s);
          cwe.push(r.timings.cweMs);
          if (!r.abstained) code.push(r.timings.codeMs);
        }
      }
      const qps = (ROUNDS * queries.length) / ((performance.now() - t0) / 1000);
      const f = (xs: number[]) => `p50 ${pct(xs, 0.5).toFixed(1).padStart(6)} ms  p99 ${pct(xs, 0.99).toFixed(1).padStart(6)} ms`;
      process.stdout.write(`  ${String(scale).padStart(3)}× (${rn.length} nodes, ${re.length} examples; index written in ${writeS.toFixed(1)} s): ${qps.toFixed(1)} queries/s\n`);
      process.stdout.write(`       CWE level  ${f(cwe)}\n       code level ${f(code)}\n       whole      ${f(total)}\n`);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

void main();
