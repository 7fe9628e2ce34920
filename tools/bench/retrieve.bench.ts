import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { readCweCatalog, readSecEvalScenarios, readTaskLines } from '@rescue/datasets';
import { KbDirectory, indexRows, knowledgeFacts, localEmbedder, offlineQuery } from '@rescue/knowledge';
import { buildKnowledgeBase } from '@rescue/pipeline';
import {
  CweRetriever,
  DEFAULT_CODE_LEVEL,
  DEFAULT_GATE_FIT,
  DEFAULT_GATE_SHAPE,
  DEFAULT_RANKER,
  type IndexedKnowledge,
  type KnowledgeIndexReader,
  LanceKnowledgeIndex,
  LsaEmbedder,
  MEMORY_SEARCH_MAX_ROWS,
  MemoryKnowledgeIndex,
  type RetrievalQuery,
  type RowSource,
  type SearchCollection,
  type TermCounts,
  fitGate,
  ordinaryTaskTerms,
} from '@rescue/retrieval';
import { Slicer } from '@rescue/slicing';

// Retrieval latency per level at 1×, 10×, 100× (and 1,000× when asked) the shared KB (kb-source,
// CodeQL help and the XML catalogue), with the four development sets as queries (offline mode).
// A KB grows by its fixes and documents, not by its weaknesses: examples, documents and language
// nodes are replicated under new ids, the language-neutral node of each CWE stays one (its
// document holds at most MAX_EXAMPLES_PER_CWE_DOCUMENT examples, as in a real build).
//
// Backends (BENCH_BACKEND):
// - `memory` (default): the in-memory index (MemoryKnowledgeIndex, what `openKnowledgeBase` serves
//   with) loading its rows from arrays the bench holds, so 1,000× needs no hour-long LanceDB write.
//   The index's load is timed apart from the queries, and memory is reported twice: after the
//   bench built its replicated rows (the bench's own arrays) and after the index loaded (the index).
// - `lance`: the rows written to LanceDB first and read from it, as a published KB is; collections
//   over BENCH_MEMORY_ROWS (default MEMORY_SEARCH_MAX_ROWS) are searched by LanceDB itself.
// BENCH_JSON=<file> writes the figures as JSON (`npm run bench` collects them).

const shared = resolve(__dirname, '../../../../shared/data');
const SCALES = (process.env.BENCH_SCALES ?? '1,10,100')
  .split(',')
  .map(Number)
  .filter((n) => Number.isInteger(n) && n > 0);
const BACKEND = process.env.BENCH_BACKEND === 'lance' ? 'lance' : 'memory';
const MEMORY_ROWS = process.env.BENCH_MEMORY_ROWS ? Number(process.env.BENCH_MEMORY_ROWS) : MEMORY_SEARCH_MAX_ROWS;
const ROUNDS = 2;

// Memory figures mean little without a collection first; the flag can be set after start-up.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const memory = (): { rssMb: number; heapMb: number; externalMb: number } => {
  gc();
  const m = process.memoryUsage();
  return { rssMb: Math.round(m.rss / 2 ** 20), heapMb: Math.round(m.heapUsed / 2 ** 20), externalMb: Math.round(m.external / 2 ** 20) };
};

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor(p * s.length))];
};
const round = (x: number): number => Math.round(x * 100) / 100;
const latency = (xs: number[]) => ({ p50: round(pct(xs, 0.5)), p99: round(pct(xs, 0.99)) });

/** Replicated rows served from the bench's arrays: what MemoryKnowledgeIndex loads (it never asks this source to search). */
class ArrayRows implements KnowledgeIndexReader, RowSource {
  constructor(private readonly rows: IndexedKnowledge) {}

  async counts(): Promise<Record<SearchCollection, number>> {
    return { nodes: this.rows.nodes.length, examples: this.rows.examples.length, documents: this.rows.documents.length };
  }

  async scan(collection: SearchCollection, fields: string[]): Promise<Record<string, unknown>[]> {
    const pick = (r: Record<string, unknown>): Record<string, unknown> => Object.fromEntries(fields.map((f) => [f, r[f]]));
    if (collection === 'nodes')
      return this.rows.nodes.map((n) =>
        pick({ id: n.id, cwe: n.cwe, language: n.language, text: n.text, api_text: n.apiText, doc_terms: n.docTerms ?? '', catalog_terms: n.catalogTerms ?? '', vector: n.causeVector }),
      );
    if (collection === 'examples')
      return this.rows.examples.map((e) =>
        pick({ id: e.id, node_id: e.nodeId, cwe: e.cwe, language: e.language, kind: e.kind ?? 'fix', api_text: e.apiText, code_text: e.codeText ?? '', vector: e.codeVector }),
      );
    return this.rows.documents.map((d) => pick({ id: d.id, kind: d.kind, cwes: d.cwes.join(' '), language: d.language ?? '', terms: d.terms }));
  }

  searchText(): never {
    throw new Error('ArrayRows only feeds the in-memory index; raise its row cap');
  }

  searchVector(): never {
    throw new Error('ArrayRows only feeds the in-memory index; raise its row cap');
  }
}

/** The 1× rows replicated `scale` times under new ids; term strings and vectors are shared, not copied. */
function replicate(one: IndexedKnowledge, scale: number): IndexedKnowledge {
  const out: IndexedKnowledge = { nodes: [], examples: [], documents: [] };
  for (let r = 0; r < scale; r += 1) {
    const sfx = r === 0 ? '' : `#${r}`;
    for (const n of one.nodes) if (r === 0 || n.language) out.nodes.push({ ...n, id: `${n.id}${sfx}` });
    for (const e of one.examples) out.examples.push({ ...e, id: `${e.id}${sfx}`, nodeId: e.nodeId.startsWith('any:') ? e.nodeId : `${e.nodeId}${sfx}` });
    for (const d of one.documents) out.documents.push({ ...d, id: `${d.id}${sfx}` });
  }
  return out;
}

export interface RetrieveScaleResult {
  scale: number;
  backend: string;
  rows: Record<SearchCollection, number>;
  loadS: number;
  qps: number;
  memory: { benchArrays: ReturnType<typeof memory>; withIndex: ReturnType<typeof memory> };
  cwe: { p50: number; p99: number };
  code: { p50: number; p99: number };
  whole: { p50: number; p99: number };
  /** Queries whose top CWE (or abstention) is the one they get at 1×. */
  sameTopCweAs1x: number;
}

async function main(): Promise<void> {
  const xml = join(shared, 'cwe', 'cwec_v4.14.xml.zip');
  if (!existsSync(join(shared, 'kb-source')) || !existsSync(join(shared, 'dev-eval')) || !existsSync(xml)) {
    process.stdout.write(`bench:retrieve skipped: ${shared} (kb-source, codeql-help, cwe, dev-eval) is absent\n`);
    if (process.env.BENCH_JSON) writeFileSync(process.env.BENCH_JSON, JSON.stringify({ skipped: `${shared} is absent` }));
    return;
  }
  const work = mkdtempSync(join(tmpdir(), 'rescue-bench-retrieve-'));
  const results: RetrieveScaleResult[] = [];
  try {
    const catalog = await readCweCatalog(xml);
    const built = await buildKnowledgeBase({
      sources: [join(shared, 'kb-source'), join(shared, 'codeql-help')],
      kbDir: join(work, 'kb'),
      catalog,
      catalogPath: xml,
      clusterBy: 'language-cwe',
      catalogOnlyNodes: true,
      hops: 2,
      maxLineBytes: 8 << 20,
      embedder: localEmbedder,
    });
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
    const gate = fitGate(ordinaryTaskTerms(), termCounts, DEFAULT_GATE_FIT, DEFAULT_GATE_SHAPE);
    const slicer = await Slicer.create();
    const tasks = await readSecEvalScenarios(join(shared, 'dev-eval', 'safecoder-sec-eval'));
    for (const name of ['cweval', 'llmseceval', 'humaneval-even']) for await (const t of readTaskLines(join(shared, 'dev-eval', name, 'tasks.jsonl'), () => undefined)) tasks.push(t);
    const queries: RetrievalQuery[] = await Promise.all(tasks.map((t) => offlineQuery(t, slicer)));
    const one = indexRows({ nodes, examples, documents, catalog }, causeVecs, codeVecs);
    process.stdout.write(
      `bench:retrieve: ${queries.length} queries of the four development sets (offline: CWE facets ${DEFAULT_RANKER.facets.join(', ')}), ${ROUNDS} rounds, backend ${BACKEND}${BACKEND === 'lance' ? ` (in memory up to ${MEMORY_ROWS} rows)` : ''}, load ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}\n`,
    );
    let topAt1x: string[] | undefined;
    for (const scale of SCALES) {
      let rows: IndexedKnowledge | undefined = replicate(one, scale);
      const counts = { nodes: rows.nodes.length, examples: rows.examples.length, documents: rows.documents.length };
      let backend: KnowledgeIndexReader & RowSource;
      let index: MemoryKnowledgeIndex;
      const t = performance.now();
      if (BACKEND === 'lance') {
        const scaledDir = join(work, `x${scale}`);
        await LanceKnowledgeIndex.write(scaledDir, rows.nodes, rows.examples, rows.documents);
        rows = undefined;
        backend = await LanceKnowledgeIndex.open(scaledDir);
        index = new MemoryKnowledgeIndex(backend, MEMORY_ROWS);
      } else {
        backend = new ArrayRows(rows);
        index = new MemoryKnowledgeIndex(backend, Number.MAX_SAFE_INTEGER);
      }
      const writeS = (performance.now() - t) / 1000;
      const benchArrays = memory();
      const retriever = new CweRetriever(index, embedder, facts, { ...DEFAULT_CODE_LEVEL, topK: 4, ranker: DEFAULT_RANKER, gate });
      // The first query loads every collection the facets touch; its time is the index's load.
      const t1 = performance.now();
      await retriever.retrieve(queries[0]);
      const loadS = (performance.now() - t1) / 1000;
      for (const q of queries.slice(1, 6)) await retriever.retrieve(q);
      const withIndex = memory();
      const cwe: number[] = [];
      const code: number[] = [];
      const total: number[] = [];
      const top: string[] = [];
      const t0 = performance.now();
      for (let r = 0; r < ROUNDS; r += 1) {
        for (const q of queries) {
          const s = performance.now();
          const res = await retriever.retrieve(q);
          total.push(performance.now() - s);
          cwe.push(res.timings.cweMs);
          if (!res.abstained) code.push(res.timings.codeMs);
          if (r === 0) top.push(res.abstained ? 'abstain' : (res.cwes[0]?.cwe ?? ''));
        }
      }
      const qps = (ROUNDS * queries.length) / ((performance.now() - t0) / 1000);
      topAt1x ??= scale === 1 ? top : undefined;
      const same = topAt1x ? top.filter((c, i) => c === topAt1x?.[i]).length / top.length : NaN;
      const result: RetrieveScaleResult = {
        scale,
        backend: BACKEND,
        rows: counts,
        loadS: round(loadS + (BACKEND === 'lance' ? writeS : 0)),
        qps: round(qps),
        memory: { benchArrays, withIndex },
        cwe: latency(cwe),
        code: latency(code),
        whole: latency(total),
        sameTopCweAs1x: round(same),
      };
      results.push(result);
      const f = (l: { p50: number; p99: number }) => `p50 ${l.p50.toFixed(1).padStart(6)} ms  p99 ${l.p99.toFixed(1).padStart(6)} ms`;
      process.stdout.write(
        `  ${String(scale).padStart(4)}× (${counts.nodes} nodes, ${counts.examples} examples, ${counts.documents} documents): ${BACKEND === 'lance' ? `written in ${writeS.toFixed(1)} s, ` : ''}index loaded in ${loadS.toFixed(1)} s, ${qps.toFixed(1)} queries/s, top CWE as at 1×: ${Number.isNaN(same) ? 'n/a' : `${(same * 100).toFixed(0)}%`}\n`,
      );
      process.stdout.write(
        `        memory: bench arrays rss ${benchArrays.rssMb} MB (heap ${benchArrays.heapMb}); with the index rss ${withIndex.rssMb} MB (heap ${withIndex.heapMb}, typed arrays ${withIndex.externalMb})\n`,
      );
      process.stdout.write(`        CWE level  ${f(result.cwe)}\n        code level ${f(result.code)}\n        whole      ${f(result.whole)}\n`);
      rows = undefined;
      backend = undefined as unknown as typeof backend;
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
    if (process.env.BENCH_JSON) writeFileSync(process.env.BENCH_JSON, JSON.stringify({ load: loadavg(), figures: figuresOf(results), results }, null, 1));
  }
}

/** The figures `npm run bench` tabulates: each scale's latencies beside the same figure at 1× in this run (the curve). */
function figuresOf(results: RetrieveScaleResult[]): { name: string; value: number; unit: string; baseline?: { name: string; value: number }; goal?: string }[] {
  const one = results.find((r) => r.scale === 1);
  const goal = (scale: number, what: string): string | undefined => (scale === 1 && what === 'whole p50' ? '< 10' : scale === 100 && what === 'whole p99' ? '< 50' : undefined);
  return results.flatMap((r) =>
    (
      [
        ['whole p50', r.whole.p50, one?.whole.p50],
        ['whole p99', r.whole.p99, one?.whole.p99],
        ['CWE level p50', r.cwe.p50, one?.cwe.p50],
        ['CWE level p99', r.cwe.p99, one?.cwe.p99],
        ['index load', r.loadS * 1000, one ? one.loadS * 1000 : undefined],
        ['rss with the index', r.memory.withIndex.rssMb, one?.memory.withIndex.rssMb],
      ] as [string, number, number | undefined][]
    ).map(([what, value, base]) => ({
      name: `retrieve ${r.scale}× ${what}`,
      value,
      unit: what.startsWith('rss') ? 'MB' : 'ms',
      ...(base !== undefined && r.scale !== 1 ? { baseline: { name: `same at 1×`, value: base } } : {}),
      ...(goal(r.scale, what) ? { goal: goal(r.scale, what) } : {}),
    })),
  );
}

void main();
