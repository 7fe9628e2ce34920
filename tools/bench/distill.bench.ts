import { type ChildProcess, fork } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { llmEnv, loadConfig } from '@rescue/config';
import { type ClusterDistiller, DEFAULT_LLM_DISTILLER, llmDistiller, localEmbedder, mergeLevels } from '@rescue/knowledge';
import { buildKnowledgeBase } from '@rescue/pipeline';
import { type Llm, llmFromEnv } from '@rescue/llm';
import { FakeOpenAiServer } from '@rescue/testing';
import { type Figure, jsonlFiles } from './bench-figures';

// `npm run bench:distill`: does the LLM distillation keep the LLM busy? A KB build of a sample of
// the shared fix pairs against the repo's fake OpenAI-compatible server (real `openai` client,
// answers after a fixed latency), for each (latency, in-flight cap) setting.
//
// ideal = max(calls × latency / cap, depth × latency), where
//   - calls is what the build sent (the fake's request count),
//   - depth is the longest chain of calls that must run one after another: over the clusters, one
//     leaf call plus one per merge level of the cause tree (n records → mergeLevels(n, b)); the
//     guideline tree has at most as many leaves, so never more levels.
// Neither term can be beaten: the cap bounds the throughput, the chain the latency. efficiency =
// ideal / measured time of the summarize stage (which also pays reading records and assembling nodes).
//
// The sample is sized per setting so the run lasts about ROUNDS × latency (enough calls that one
// partly filled last round costs a few percent, not the figure). BENCH_DISTILL=200x4,2000x32 picks
// settings; the baseline (clusters one after another, as before) runs at 200 ms × 4 only.

const shared = resolve(__dirname, '../../../../shared/data');
const CALLS_PER_RECORD = 1.25;

interface Setting {
  latencyMs: number;
  cap: number;
}

/** The first `fraction` of every file's lines: every source and cluster shape, fewer records. */
function sample(kbSource: string, fraction: number, out: string): number {
  const lines = jsonlFiles(kbSource).flatMap((file) => {
    const all = readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '');
    return all.slice(0, Math.max(1, Math.ceil(all.length * fraction)));
  });
  writeFileSync(out, `${lines.join('\n')}\n`);
  return lines.length;
}

async function run(kbSource: string, work: string, total: number, s: Setting, sequentialClusters: boolean): Promise<{ efficiency: number; line: string }> {
  const rounds = s.latencyMs >= 1000 ? 20 : 40;
  const wanted = Math.ceil((rounds * s.cap) / CALLS_PER_RECORD);
  const file = join(work, `sample-${s.latencyMs}x${s.cap}.jsonl`);
  const records = sample(kbSource, Math.min(1, wanted / total), file);
  const fake = await RemoteFake.start(s.latencyMs);
  try {
    const llm = llmFromEnv(loadConfig(llmEnv, { LLM_BASE_URL: fake.baseUrl, LLM_API_KEY: 'bench', LLM_MODEL: 'fake', LLM_CACHE: 'none' })) as Llm;
    const inner = llmDistiller(llm, { ...DEFAULT_LLM_DISTILLER, concurrency: s.cap, model: 'fake' });
    const clusterSizes: number[] = [];
    const spans: { n: number; start: number; end: number }[] = [];
    let stageStart = 0;
    let stageEnd = 0;
    const distiller: ClusterDistiller = {
      mode: inner.mode,
      clusterConcurrency: sequentialClusters ? 1 : inner.clusterConcurrency,
      distill: async (cwe, recs, entry, context) => {
        clusterSizes.push(recs.length);
        const t0 = performance.timeOrigin + performance.now();
        const out = await inner.distill(cwe, recs, entry, context);
        spans.push({ n: recs.length, start: t0, end: performance.timeOrigin + performance.now() });
        return out;
      },
    };
    const report = await buildKnowledgeBase({
      sources: [file],
      kbDir: join(work, `kb-${s.latencyMs}x${s.cap}${sequentialClusters ? '-seq' : ''}`),
      catalog: new Map(),
      clusterBy: 'language-cwe',
      catalogOnlyNodes: false,
      hops: 2,
      maxLineBytes: 8 << 20,
      embedder: localEmbedder,
      distiller,
      onStage: (stage, event) => {
        if (stage === 'summarize' && event === 'start') stageStart = performance.timeOrigin + performance.now();
        if (stage === 'summarize' && event === 'done') stageEnd = performance.timeOrigin + performance.now();
      },
    });
    const { requests, maxConcurrency } = await fake.stats();
    const calls = requests.length;
    const depth = Math.max(...clusterSizes.map((n) => 1 + mergeLevels(n, DEFAULT_LLM_DISTILLER.batchSize)));
    const throughputBound = (calls * s.latencyMs) / s.cap;
    const chainBound = depth * s.latencyMs;
    const ideal = Math.max(throughputBound, chainBound);
    const measured = report.stageMs.summarize;
    // Where the time goes: the span from the first request to the last answer, how long the fake
    // held a request on average (the latency plus what a busy event loop adds), and the mean number
    // in flight over the span.
    const first = Math.min(...requests.map((r) => r.startedAt));
    const last = Math.max(...requests.map((r) => r.endedAt ?? r.startedAt));
    const held = requests.reduce((n, r) => n + ((r.endedAt ?? r.startedAt) - r.startedAt), 0);
    const efficiency = ideal / measured;
    if (process.env.BENCH_DISTILL_TIMELINE) {
      // Mean in flight per tenth of the span: where the slots sat idle.
      const tenth = (last - first) / 10;
      const buckets = Array.from({ length: 10 }, (_, i) => {
        const a = first + i * tenth;
        const b = a + tenth;
        return requests.reduce((n, r) => n + Math.max(0, Math.min(b, r.endedAt ?? a) - Math.max(a, r.startedAt)), 0) / tenth;
      });
      const rel = (t: number): string => ((t - first) / 1000).toFixed(1);
      process.stdout.write(
        `    clusters (records: start-end s): ${spans
          .sort((x, y) => x.end - y.end)
          .map((c) => `${c.n}:${rel(c.start)}-${rel(c.end)}`)
          .join(' ')}\n`,
      );
      const tail = requests.filter((r) => r.startedAt > last - 3000).sort((x, y) => x.startedAt - y.startedAt);
      process.stdout.write(`    last 3 s: ${tail.map((r) => `${rel(r.startedAt)}${r.kind}`).join(' ')}\n`);
      process.stdout.write(`    in flight per tenth: ${buckets.map((x) => x.toFixed(1)).join(' ')}\n`);
    }
    const line =
      `  ${String(s.latencyMs).padStart(5)} ms × ${String(s.cap).padStart(2)} in flight${sequentialClusters ? ' (clusters one after another: baseline)' : ''}: ` +
      `${records} records, ${clusterSizes.length} clusters, ${calls} calls (build counted ${report.llm.calls}), depth ${depth}, peak in flight ${maxConcurrency}; ` +
      `summarize ${(measured / 1000).toFixed(2)} s (first call after ${((first - stageStart) / 1000).toFixed(2)} s, calls span ${((last - first) / 1000).toFixed(2)} s, then ${((stageEnd - last) / 1000).toFixed(2)} s; each held ${(held / calls).toFixed(0)} ms, mean in flight ${(held / (last - first)).toFixed(1)}), ideal ${(ideal / 1000).toFixed(2)} s (${throughputBound >= chainBound ? 'calls × latency / cap' : 'depth × latency'}) → ${efficiency.toFixed(2)} of ideal\n`;
    return { efficiency: Math.round(efficiency * 1000) / 1000, line };
  } finally {
    await fake.close();
  }
}

/**
 * The fake LLM in a process of its own, as a real one would be: its answers leave on time even
 * while the build's event loop is busy, so the figure is the build's own overhead, not the fake's.
 */
class RemoteFake {
  private constructor(
    private readonly child: ChildProcess,
    readonly baseUrl: string,
  ) {}

  static async start(latencyMs: number): Promise<RemoteFake> {
    const child = fork(__filename, ['--fake-llm', String(latencyMs)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const baseUrl = await new Promise<string>((ok, fail) => {
      child.once('message', (m: { baseUrl: string }) => ok(m.baseUrl));
      child.once('exit', (code) => fail(new Error(`the fake LLM process exited (${code}) before listening`)));
    });
    return new RemoteFake(child, baseUrl);
  }

  stats(): Promise<{ requests: { startedAt: number; endedAt?: number; kind: string }[]; maxConcurrency: number }> {
    return new Promise((ok) => {
      this.child.once('message', ok as (m: unknown) => void);
      this.child.send('stats');
    });
  }

  close(): Promise<void> {
    return new Promise((ok) => {
      this.child.once('exit', () => ok());
      this.child.send('close');
    });
  }
}

/** The child side of {@link RemoteFake}. */
async function fakeLlmProcess(latencyMs: number): Promise<void> {
  const fake = await FakeOpenAiServer.start({ latencyMs, defaultReply: JSON.stringify({ cause: 'Input reaches a sensitive call unchecked.' }) });
  fake.script([
    { match: /## Case 1|## Guideline list 1/, reply: JSON.stringify({ guidelines: ['Keep data out of code paths.'] }) },
    { match: /description\(s\) of why code had/, reply: JSON.stringify({ cause: 'Merged cause.' }) },
  ]);
  process.on('message', (m) => {
    if (m === 'stats')
      process.send?.({
        requests: fake.requests.map((r) => ({
          startedAt: r.startedAt,
          endedAt: r.endedAt,
          kind: /## Case 1/.test(r.prompt) ? 'G' : /## Guideline list 1/.test(r.prompt) ? 'g' : /description\(s\) of why code had/.test(r.prompt) ? 'c' : 'C',
        })),
        maxConcurrency: fake.maxConcurrency,
      });
    if (m === 'close') void fake.close().then(() => process.disconnect());
  });
  process.send?.({ baseUrl: fake.baseUrl });
}

async function main(): Promise<void> {
  const kbSource = join(shared, 'kb-source');
  if (!existsSync(kbSource)) {
    process.stdout.write(`bench:distill skipped: ${kbSource} is absent (the shared data sits beside the repository)\n`);
    return;
  }
  const settings: Setting[] = (process.env.BENCH_DISTILL ?? '200x4,200x32,2000x4,2000x32').split(',').map((x) => {
    const [latencyMs, cap] = x.split('x').map(Number);
    if (!(latencyMs > 0 && cap > 0)) throw new Error(`BENCH_DISTILL: "${x}" is not <latency ms>x<in flight>, e.g. 200x4`);
    return { latencyMs, cap };
  });
  const total = jsonlFiles(kbSource).reduce(
    (n, f) =>
      n +
      readFileSync(f, 'utf8')
        .split('\n')
        .filter((l) => l.trim() !== '').length,
    0,
  );
  const work = mkdtempSync(join(tmpdir(), 'rescue-bench-distill-'));
  const figures: Figure[] = [];
  process.stdout.write(`bench:distill: KB builds against the fake LLM; efficiency = max(calls × latency / cap, depth × latency) / summarize time (goal ≥ 0.90)\n`);
  try {
    for (const s of settings) {
      let baseline: number | undefined;
      if (s.latencyMs === 200 && s.cap === 4) {
        const seq = await run(kbSource, work, total, s, true);
        process.stdout.write(seq.line);
        baseline = seq.efficiency;
      }
      const r = await run(kbSource, work, total, s, false);
      process.stdout.write(r.line);
      figures.push({
        name: `distillation at ${s.latencyMs} ms × ${s.cap} in flight`,
        value: r.efficiency,
        unit: 'of ideal',
        ...(baseline !== undefined ? { baseline: { name: 'clusters one after another', value: baseline } } : {}),
        goal: '≥ 0.90',
      });
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  if (process.env.BENCH_JSON) writeFileSync(process.env.BENCH_JSON, JSON.stringify({ figures }, null, 2));
}

const entry = process.argv[2] === '--fake-llm' ? fakeLlmProcess(Number(process.argv[3])) : main();
entry.catch((err: unknown) => {
  process.stderr.write(`bench:distill failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
