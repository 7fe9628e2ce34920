import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { readCweCatalog, readSecEvalScenarios, readTaskLines } from '@rescue/datasets';
import { type CodeExample, type CweNode, KbDirectory, type KnowledgeDocument, indexRows, knowledgeFacts, localEmbedder, offlineQuery } from '@rescue/knowledge';
import { buildKnowledgeBase } from '@rescue/pipeline';
import { CweRetriever, DEFAULT_CODE_LEVEL, DEFAULT_RANKER, LanceKnowledgeIndex, MemoryKnowledgeIndex, LsaEmbedder, type TermCounts, fitGate, ordinaryTaskTerms } from '@rescue/retrieval';
import { Slicer } from '@rescue/slicing';

// Retrieval latency per level on the embedded backend at 1×, 10× and 100× the shared KB (kb-source,
// CodeQL help and the XML catalogue), with the four development sets as queries (offline mode), all
// in one run. A KB grows by its fixes and documents, not by its weaknesses: examples, documents and
// language nodes are replicated under new ids, the language-neutral node of each CWE stays one (its
// document holds at most MAX_EXAMPLES_PER_CWE_DOCUMENT examples, as in a real build).

const shared = resolve(__dirname, '../../../../shared/data');
// BENCH_SCALES=1,10 measures a subset (the 100× index takes minutes to write).
const SCALES = (process.env.BENCH_SCALES ?? '1,10,100').split(',').map(Number).filter((n) => Number.isInteger(n) && n > 0);
const ROUNDS = 2;

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
};

async function main(): Promise<void> {
  const xml = join(shared, 'cwe', 'cwec_v4.14.xml.zip');
  if (!existsSync(join(shared, 'kb-source')) || !existsSync(join(shared, 'dev-eval')) || !existsSync(xml)) {
    process.stdout.write(`bench:retrieve skipped: ${shared} (kb-source, codeql-help, cwe, dev-eval) is absent\n`);
    return;
  }
  const work = mkdtempSync(join(tmpdir(), 'rescue-bench-retrieve-'));
  try {
    const catalog = await readCweCatalog(xml);
    const built = await buildKnowledgeBase({ sources: [join(shared, 'kb-source'), join(shared, 'codeql-help')], kbDir: join(work, 'kb'), catalog, catalogPath: xml, clusterBy: 'language-cwe', catalogOnlyNodes: true, hops: 2, maxLineBytes: 8 << 20, embedder: localEmbedder });
    const dir = new KbDirectory(join(work, 'kb'));
    const versionDir = dir.versionDir(built.manifest.version);
    const embedder = LsaEmbedder.fromJSON(await readFile(join(versionDir, 'embedder.json'), 'utf8'));
    const nodes = await dir.nodes();
    const examples = await dir.examples();
    const documents = await dir.documents();
    const termCounts = JSON.parse(await readFile(join(versionDir, 'term-counts.json'), 'utf8')) as TermCounts;
    const causeVecs = await embedder.embed(nodes.map((n) => `${n.name ?? ''}\n${n.cause}`));
    const codeVecs = await embedder.embed(examples.map((e) => (e.kind === 'vulnerable' ? e.slicedVulnerable : e.slicedSecure)));
    const facts = knowledgeFacts(new Map(nodes.map((n) => [n.id, n])), examples, documents, termCounts);
    const gate = fitGate(ordinaryTaskTerms(), termCounts);
    const slicer = await Slicer.create();
    const tasks = await readSecEvalScenarios(join(shared, 'dev-eval', 'safecoder-sec-eval'));
    for (const name of ['cweval', 'llmseceval', 'humaneval-even']) for await (const t of readTaskLines(join(shared, 'dev-eval', name, 'tasks.jsonl'), () => undefined)) tasks.push(t);
    const queries = await Promise.all(tasks.map((t) => offlineQuery(t, slicer)));
    process.stdout.write(`bench:retrieve: ${queries.length} queries of the four development sets (offline: CWE facets ${DEFAULT_RANKER.facets.join(', ')}), ${ROUNDS} rounds, LanceDB embedded\n`);
    for (const scale of SCALES) {
      const scaledDir = join(work, `x${scale}`);
      const sn: CweNode[] = [];
      const snVecs: Float32Array[] = [];
      const se: CodeExample[] = [];
      const seVecs: Float32Array[] = [];
      const sd: KnowledgeDocument[] = [];
      for (let r = 0; r < scale; r += 1) {
        const sfx = r === 0 ? '' : `#${r}`;
        nodes.forEach((n, i) => {
          if (r > 0 && !n.language) return;
          sn.push({ ...n, id: `${n.id}${sfx}` });
          snVecs.push(causeVecs[i]);
        });
        examples.forEach((e, i) => {
          se.push({ ...e, id: `${e.id}${sfx}`, cweNodeId: e.cweNodeId.startsWith('any:') ? e.cweNodeId : `${e.cweNodeId}${sfx}` });
          seVecs.push(codeVecs[i]);
        });
        for (const d of documents) sd.push({ ...d, id: `${d.id}${sfx}` });
      }
      const { nodes: rn, examples: re, documents: rd } = indexRows({ nodes: sn, examples: se, documents: sd, catalog }, snVecs, seVecs);
      const t = performance.now();
      await LanceKnowledgeIndex.write(scaledDir, rn, re, rd);
      const writeS = (performance.now() - t) / 1000;
      const retriever = new CweRetriever(new MemoryKnowledgeIndex(await LanceKnowledgeIndex.open(scaledDir), process.env.BENCH_MEMORY_ROWS ? Number(process.env.BENCH_MEMORY_ROWS) : undefined), embedder, facts, { ...DEFAULT_CODE_LEVEL, topK: 4, ranker: DEFAULT_RANKER, gate });
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
      process.stdout.write(`  ${String(scale).padStart(3)}× (${rn.length} nodes, ${re.length} examples, ${rd.length} documents; index written in ${writeS.toFixed(1)} s): ${qps.toFixed(1)} queries/s\n`);
      process.stdout.write(`       memory: rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MB, heap ${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(0)} MB\n`);
      process.stdout.write(`       CWE level  ${f(cwe)}\n       code level ${f(code)}\n       whole      ${f(total)}\n`);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

void main();
