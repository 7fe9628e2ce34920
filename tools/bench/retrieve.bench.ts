import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { readCweCatalog, readSecEvalScenarios, readTaskLines } from '@rescue/datasets';
import { KbDirectory, indexRows, knowledgeFacts, offlineQuery } from '@rescue/knowledge';
import { buildKnowledgeBase } from '@rescue/pipeline';
import {
  CWE_FACETS,
  type CweFacetName,
  type CweFacetSpec,
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
  rankCandidates,
  FacetSearch,
  fitGate,
  ordinaryTaskTerms,
} from '@rescue/retrieval';
import { Slicer } from '@rescue/slicing';
import { EMBEDDED_BUILD } from './bench-figures';

// Retrieval latency per level at 1×, 10×, 100× (and 1,000× when asked) the shared KB (kb-source,
// CodeQL help and the XML catalogue), with the four development sets as queries (offline mode).
// A KB grows by its fixes and documents, not by its weaknesses: examples, documents and language
// nodes are replicated under new ids, the language-neutral node of each CWE stays one (its
// document holds at most MAX_EXAMPLES_PER_CWE_DOCUMENT examples, as in a real build).
//
// Backends (BENCH_BACKEND):
// - `memory` (default): the in-memory index (MemoryKnowledgeIndex, what `openKnowledgeBase` serves
//   with) loading its rows from the bench, so 1,000× needs no hour-long LanceDB write. The bench
//   holds the 1× rows only: each copy is made as the index scans it. The index's load is timed
//   apart from the queries, and memory is reported before the index loads (the bench: its 1× KB,
//   the embedder, the queries) and after (the index), with the process's peak so far.
// - `lance`: the rows written to LanceDB first and read from it, as a published KB is; collections
//   over BENCH_MEMORY_ROWS (default MEMORY_SEARCH_MAX_ROWS) are searched by LanceDB itself.
// BENCH_JSON=<file> writes the figures as JSON (`npm run bench` collects them).
//
// BENCH_LEVEL=cwe: the CWE level alone (issue 13's 1,000× curve): each query's facet searches,
// the ranker and the relevance gate (CweRetriever.analyse, then what retrieve() does with it), no
// code level, so the examples' vectors are never loaded. The CWE-level facets read all three
// collections (examples: code_text and api_text; documents: terms; nodes: doc_terms and
// catalog_terms), so every collection is replicated. At 1× each query's top CWE is checked
// against retrieve()'s, so this path is the one retrieval takes. Per facet, p50 and p99 of its
// search alone (one more pass) show where the time goes. With the memory backend the replicated
// rows are made on the fly from the 1× rows when the index loads them, never held by the bench.
// BENCH_ROUNDS (default 2) sets the rounds over the queries; BENCH_FACETS=0 skips the per-facet pass.

const shared = resolve(__dirname, '../../../../shared/data');
const SCALES = (process.env.BENCH_SCALES ?? '1,10,100')
  .split(',')
  .map(Number)
  .filter((n) => Number.isInteger(n) && n > 0);
const BACKEND = process.env.BENCH_BACKEND === 'lance' ? 'lance' : 'memory';
const MEMORY_ROWS = process.env.BENCH_MEMORY_ROWS ? Number(process.env.BENCH_MEMORY_ROWS) : MEMORY_SEARCH_MAX_ROWS;
const ROUNDS = process.env.BENCH_ROUNDS ? Math.max(1, Number(process.env.BENCH_ROUNDS)) : 2;
const LEVEL = process.env.BENCH_LEVEL === 'cwe' ? 'cwe' : 'whole';

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

/**
 * Replicated rows served from memory: what MemoryKnowledgeIndex loads (it never asks this source
 * to search). `scale` copies of the 1× rows (see {@link replicate}), each made when a scan reads it,
 * so the bench holds no replicated array of its own (what lets 1,000× fit).
 */
class ArrayRows implements KnowledgeIndexReader, RowSource {
  constructor(
    private readonly one: IndexedKnowledge,
    private readonly scale: number,
  ) {}

  async counts(): Promise<Record<SearchCollection, number>> {
    const languageNodes = this.one.nodes.filter((n) => n.language).length;
    return {
      nodes: this.one.nodes.length + (this.scale - 1) * languageNodes,
      examples: this.scale * this.one.examples.length,
      documents: this.scale * this.one.documents.length,
    };
  }

  async scan(collection: SearchCollection, fields: string[]): Promise<Record<string, unknown>[]> {
    const pick = (r: Record<string, unknown>): Record<string, unknown> => Object.fromEntries(fields.map((f) => [f, r[f]]));
    const out: Record<string, unknown>[] = [];
    for (let r = 0; r < this.scale; r += 1) {
      const sfx = r === 0 ? '' : `#${r}`;
      if (collection === 'nodes') {
        for (const n of this.one.nodes)
          if (r === 0 || n.language)
            out.push(
              pick({
                id: `${n.id}${sfx}`,
                cwe: n.cwe,
                language: n.language,
                text: n.text,
                api_text: n.apiText,
                doc_terms: n.docTerms ?? '',
                catalog_terms: n.catalogTerms ?? '',
                vector: n.causeVector,
              }),
            );
      } else if (collection === 'examples') {
        for (const e of this.one.examples)
          out.push(
            pick({
              id: `${e.id}${sfx}`,
              node_id: e.nodeId.startsWith('any:') ? e.nodeId : `${e.nodeId}${sfx}`,
              cwe: e.cwe,
              language: e.language,
              kind: e.kind ?? 'fix',
              api_text: e.apiText,
              code_text: e.codeText ?? '',
              vector: e.codeVector,
            }),
          );
      } else {
        for (const d of this.one.documents) out.push(pick({ id: `${d.id}${sfx}`, kind: d.kind, cwes: d.cwes.join(' '), language: d.language ?? '', terms: d.terms }));
      }
    }
    return out;
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
  /** `whole`: retrieve() (CWE level, then code level); `cwe`: the CWE level alone (BENCH_LEVEL=cwe). */
  level: 'whole' | 'cwe';
  rows: Record<SearchCollection, number>;
  loadS: number;
  qps: number;
  /** maxRssMb: the process's peak so far (getrusage), so with scales given in ascending order, this scale's own peak. */
  memory: { beforeIndex: ReturnType<typeof memory>; withIndex: ReturnType<typeof memory>; maxRssMb: number };
  cwe: { p50: number; p99: number };
  code?: { p50: number; p99: number };
  whole?: { p50: number; p99: number };
  /** CWE level only: each facet's search alone. */
  facets?: Record<string, { p50: number; p99: number }>;
  /** CWE level only, at 1×: queries whose top CWE (or abstention) retrieve() gives too. */
  agreesWithRetrieve?: number;
  /** Queries whose top CWE (or abstention) is the one they get at 1×. */
  sameTopCweAs1x: number;
  /** Load average when the scale finished. */
  load: number[];
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
      ...EMBEDDED_BUILD,
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
      `bench:retrieve${LEVEL === 'cwe' ? ' (CWE level alone)' : ''}: ${queries.length} queries of the four development sets (offline: CWE facets ${DEFAULT_RANKER.facets.join(', ')}), ${ROUNDS} rounds, backend ${BACKEND}${BACKEND === 'lance' ? ` (in memory up to ${MEMORY_ROWS} rows)` : ''}, load ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}\n`,
    );
    let topAt1x: string[] | undefined;
    for (const scale of SCALES) {
      let backend: KnowledgeIndexReader & RowSource;
      let index: MemoryKnowledgeIndex;
      let counts: Record<SearchCollection, number>;
      const t = performance.now();
      if (BACKEND === 'lance') {
        const rows = replicate(one, scale);
        counts = { nodes: rows.nodes.length, examples: rows.examples.length, documents: rows.documents.length };
        const scaledDir = join(work, `x${scale}`);
        await LanceKnowledgeIndex.write(scaledDir, rows.nodes, rows.examples, rows.documents);
        backend = await LanceKnowledgeIndex.open(scaledDir);
        index = new MemoryKnowledgeIndex(backend, MEMORY_ROWS);
      } else {
        backend = new ArrayRows(one, scale);
        counts = await backend.counts();
        index = new MemoryKnowledgeIndex(backend, Number.MAX_SAFE_INTEGER);
      }
      const writeS = (performance.now() - t) / 1000;
      const beforeIndex = memory();
      const retriever = new CweRetriever(index, embedder, facts, { ...DEFAULT_CODE_LEVEL, topK: 4, ranker: DEFAULT_RANKER, gate });
      const measured = LEVEL === 'cwe' ? await measureCweLevel(retriever, index, queries, scale === 1) : await measureWhole(retriever, queries);
      topAt1x ??= scale === 1 ? measured.top : undefined;
      const same = topAt1x ? measured.top.filter((c, i) => c === topAt1x?.[i]).length / measured.top.length : NaN;
      const result: RetrieveScaleResult = {
        scale,
        backend: BACKEND,
        level: LEVEL,
        rows: counts,
        loadS: round(measured.loadS + (BACKEND === 'lance' ? writeS : 0)),
        qps: round(measured.qps),
        memory: { beforeIndex, withIndex: measured.withIndex, maxRssMb: Math.round(process.resourceUsage().maxRSS / 1024) },
        cwe: latency(measured.cwe),
        ...(measured.code ? { code: latency(measured.code) } : {}),
        ...(measured.whole ? { whole: latency(measured.whole) } : {}),
        ...(measured.facets ? { facets: Object.fromEntries(Object.entries(measured.facets).map(([name, xs]) => [name, latency(xs)])) } : {}),
        ...(measured.agreesWithRetrieve !== undefined ? { agreesWithRetrieve: round(measured.agreesWithRetrieve) } : {}),
        sameTopCweAs1x: round(same),
        load: loadavg().map(round),
      };
      results.push(result);
      const f = (l: { p50: number; p99: number }) => `p50 ${l.p50.toFixed(1).padStart(6)} ms  p99 ${l.p99.toFixed(1).padStart(6)} ms`;
      process.stdout.write(
        `  ${String(scale).padStart(4)}× (${counts.nodes} nodes, ${counts.examples} examples, ${counts.documents} documents): ${BACKEND === 'lance' ? `written in ${writeS.toFixed(1)} s, ` : ''}index loaded in ${measured.loadS.toFixed(1)} s, ${measured.qps.toFixed(1)} queries/s, top CWE as at 1×: ${Number.isNaN(same) ? 'n/a' : `${(same * 100).toFixed(0)}%`}, load ${result.load.join(' ')}\n`,
      );
      process.stdout.write(
        `        memory: before the index rss ${beforeIndex.rssMb} MB (heap ${beforeIndex.heapMb}); with the index rss ${measured.withIndex.rssMb} MB (heap ${measured.withIndex.heapMb}, typed arrays ${measured.withIndex.externalMb}); process peak ${result.memory.maxRssMb} MB\n`,
      );
      if (result.agreesWithRetrieve !== undefined)
        process.stdout.write(`        the CWE-level path gives retrieve()'s top CWE (or abstention) for ${(result.agreesWithRetrieve * 100).toFixed(0)}% of the queries\n`);
      process.stdout.write(`        CWE level  ${f(result.cwe)}\n`);
      if (result.code) process.stdout.write(`        code level ${f(result.code)}\n`);
      if (result.whole) process.stdout.write(`        whole      ${f(result.whole)}${LEVEL === 'cwe' ? ' (retrieve(), one round, after the CWE level alone)' : ''}\n`);
      for (const [name, l] of Object.entries(result.facets ?? {})) process.stdout.write(`          facet ${name.padEnd(18)} ${f(l)}\n`);
      backend = undefined as unknown as typeof backend;
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
    if (process.env.BENCH_JSON) writeFileSync(process.env.BENCH_JSON, JSON.stringify({ load: loadavg(), figures: figuresOf(results), results }, null, 1));
  }
}

interface Measured {
  loadS: number;
  qps: number;
  withIndex: ReturnType<typeof memory>;
  cwe: number[];
  code?: number[];
  whole?: number[];
  facets?: Record<string, number[]>;
  agreesWithRetrieve?: number;
  /** Per query of the first round: its top CWE, or `abstain`. */
  top: string[];
}

/** Whole retrieval (CWE level, then the code level) over every query, ROUNDS times. */
async function measureWhole(retriever: CweRetriever, queries: RetrievalQuery[]): Promise<Measured> {
  // The first query loads every collection the facets touch; its time is the index's load.
  const t1 = performance.now();
  await retriever.retrieve(queries[0]);
  const loadS = (performance.now() - t1) / 1000;
  for (const q of queries.slice(1, 6)) await retriever.retrieve(q);
  const withIndex = memory();
  const cwe: number[] = [];
  const code: number[] = [];
  const whole: number[] = [];
  const top: string[] = [];
  const t0 = performance.now();
  for (let r = 0; r < ROUNDS; r += 1) {
    for (const q of queries) {
      const s = performance.now();
      const res = await retriever.retrieve(q);
      whole.push(performance.now() - s);
      cwe.push(res.timings.cweMs);
      if (!res.abstained) code.push(res.timings.codeMs);
      if (r === 0) top.push(res.abstained ? 'abstain' : (res.cwes[0]?.cwe ?? ''));
    }
  }
  return { loadS, qps: (ROUNDS * queries.length) / ((performance.now() - t0) / 1000), withIndex, cwe, code, whole, top };
}

/**
 * The CWE level as retrieve() runs it, without the code level: the facet searches and candidate
 * features (analyse), the ranker's scores, and the relevance gate on the best candidate's
 * agreement. Returns the top CWE, or `abstain`.
 */
async function cweLevel(retriever: CweRetriever, q: RetrievalQuery): Promise<string> {
  const { ranker, gate, topK } = retriever.config;
  const { terms, candidates } = await retriever.analyse(q);
  const scored = rankCandidates(ranker, candidates, topK).slice(0, topK);
  if (scored.length === 0) return 'abstain';
  const verdict = gate ? retriever.gateVerdict(terms, scored[0].agreement, gate) : undefined;
  return verdict && verdict.score < verdict.threshold ? 'abstain' : scored[0].cwe;
}

/** The CWE level alone over every query, ROUNDS times; then each facet's search alone; at 1×, checked against retrieve(). */
async function measureCweLevel(retriever: CweRetriever, index: MemoryKnowledgeIndex, queries: RetrievalQuery[], checkAgainstRetrieve: boolean): Promise<Measured> {
  const t1 = performance.now();
  await cweLevel(retriever, queries[0]);
  const loadS = (performance.now() - t1) / 1000;
  for (const q of queries.slice(1, 6)) await cweLevel(retriever, q);
  const withIndex = memory();
  const cwe: number[] = [];
  const top: string[] = [];
  const t0 = performance.now();
  for (let r = 0; r < ROUNDS; r += 1) {
    for (const q of queries) {
      const s = performance.now();
      const best = await cweLevel(retriever, q);
      cwe.push(performance.now() - s);
      if (r === 0) top.push(best);
    }
  }
  const qps = (ROUNDS * queries.length) / ((performance.now() - t0) / 1000);
  // Each facet alone, on its own FacetSearch (so `examples-language` repeats the `examples`
  // search that retrieval shares between them): where the CWE level's time goes.
  const names = process.env.BENCH_FACETS === '0' ? [] : retriever.config.ranker.facets.filter((name: CweFacetName) => !(CWE_FACETS[name] as CweFacetSpec).llmOnly);
  const facets: Record<string, number[]> = Object.fromEntries(names.map((name) => [name, []]));
  for (const q of names.length > 0 ? queries : []) {
    const { search } = await retriever.analyse(q, []);
    for (const name of names) {
      const s = performance.now();
      await new FacetSearch(index, search).run(name);
      facets[name].push(performance.now() - s);
    }
  }
  // At 1×: retrieve() itself on every query, once (the code level loads the examples' vectors
  // first), so the CWE level alone has whole retrieval beside it, measured in the same run.
  let agreesWithRetrieve: number | undefined;
  let whole: number[] | undefined;
  if (checkAgainstRetrieve) {
    let agree = 0;
    await retriever.retrieve(queries[0]);
    whole = [];
    for (const [i, q] of queries.entries()) {
      const s = performance.now();
      const res = await retriever.retrieve(q);
      whole.push(performance.now() - s);
      if ((res.abstained ? 'abstain' : (res.cwes[0]?.cwe ?? '')) === top[i]) agree += 1;
    }
    agreesWithRetrieve = agree / queries.length;
  }
  return { loadS, qps, withIndex, cwe, facets, agreesWithRetrieve, whole, top };
}

/** The figures `npm run bench` tabulates: each scale's latencies beside the same figure at 1× in this run (the curve). */
function figuresOf(results: RetrieveScaleResult[]): { name: string; value: number; unit: string; baseline?: { name: string; value: number }; goal?: string }[] {
  const one = results.find((r) => r.scale === 1);
  const goal = (scale: number, what: string): string | undefined => (scale === 1 && what === 'whole p50' ? '< 10' : scale === 100 && what === 'whole p99' ? '< 50' : undefined);
  return results.flatMap((r) =>
    (
      [
        ...(r.whole ? [['whole p50', r.whole.p50, one?.whole?.p50] as const, ['whole p99', r.whole.p99, one?.whole?.p99] as const] : []),
        ['CWE level p50', r.cwe.p50, one?.cwe.p50],
        ['CWE level p99', r.cwe.p99, one?.cwe.p99],
        ['index load', r.loadS * 1000, one ? one.loadS * 1000 : undefined],
        ['rss with the index', r.memory.withIndex.rssMb, one?.memory.withIndex.rssMb],
        ['peak rss', r.memory.maxRssMb, one?.memory.maxRssMb],
      ] as [string, number, number | undefined][]
    ).map(([what, value, base]) => ({
      name: `retrieve${r.level === 'cwe' ? ' (CWE level alone)' : ''} ${r.scale}× ${what}`,
      value,
      unit: what.includes('rss') ? 'MB' : 'ms',
      ...(base !== undefined && r.scale !== 1 ? { baseline: { name: `same at 1×`, value: base } } : {}),
      ...(goal(r.scale, what) ? { goal: goal(r.scale, what) } : {}),
    })),
  );
}

void main();
