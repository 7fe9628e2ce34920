import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { type KbBuildStage, buildKnowledgeBase } from '@rescue/pipeline';
import { type Figure, jsonlFiles, EMBEDDED_BUILD, sharedCatalog } from './bench-figures';

// `npm run bench:scale`: build time and peak memory of the embedded KB build (extractive
// distiller, local embedder, the CWE catalogue) at 1×, 10×, … the shared fix pairs, the curve
// issue 13 asks for (goal: a 100× build, ~125k records, in ≤ 1 GB peak RSS).
//
// Scale s is the shared data plus s − 1 copies of every record, each copy made new by a comment
// line naming it appended to the vulnerable and the fixed function (after the last line, so the
// changed-line numbers still hold; a different content id, so ingest does not deduplicate it).
// Each build runs in its own child process, so its peak RSS (getrusage's maxrss) is the build's
// alone. Per stage: wall time, the peak RSS sampled while it ran (every 50 ms, when the event loop
// lets the sampler run, so a floor), the process's peak so far, and the heap still live after a
// full collection when it ends (what the stage left held for the next one).
//
// BENCH_BUILD_SCALES (default 1,10) picks the scales; BENCH_JSON=<file> writes the figures.
// BENCH_BUILD_LIVE=1 also samples what each stage holds live (a full collection every second).

const shared = resolve(__dirname, '../../../../shared/data');
const SCALES = (process.env.BENCH_BUILD_SCALES ?? '1,10')
  .split(',')
  .map(Number)
  .filter((n) => Number.isInteger(n) && n > 0);
const GOAL_MB = 1024;

interface StageFigures {
  ms: number;
  /** Peak RSS sampled during the stage (MB). */
  peakRssMb: number;
  /** The process's peak RSS when the stage ended (getrusage, MB). */
  maxRssMb: number;
  /** Heap live after a full collection at the stage's end (MB), and array buffers outside the heap. */
  liveHeapMb: number;
  arrayBuffersMb: number;
  /**
   * BENCH_BUILD_LIVE=1 only: the most the stage held live, from a full collection every second
   * (heap, array buffers and other native memory V8 knows of; MB). What the RSS peak is beside
   * garbage. The collections slow the build and lower its RSS, so those runs' other figures are
   * not comparable.
   */
  livePeak?: { totalMb: number; heapMb: number; arrayBuffersMb: number; externalMb: number };
}

interface BuildRun {
  scale: number;
  records: number;
  nodes: number;
  wallMs: number;
  maxRssMb: number;
  stages: Partial<Record<KbBuildStage, StageFigures>>;
  load: { before: number[]; after: number[] };
  error?: string;
}

const mb = (bytes: number): number => Math.round(bytes / 2 ** 20);
const load = (): number[] => loadavg().map((l) => Math.round(l * 100) / 100);

/**
 * Copies `from` … `to − 1` of every record of the shared data, one file per copy, each record made
 * new by a comment line naming its copy (in the record's language's comment syntax).
 */
function writeCopies(kbSource: string, dir: string, from: number, to: number): void {
  const records: Record<string, unknown>[] = [];
  for (const file of jsonlFiles(kbSource)) for (const line of readFileSync(file, 'utf8').split('\n')) if (line.trim() !== '') records.push(JSON.parse(line) as Record<string, unknown>);
  for (let copy = from; copy < to; copy += 1) {
    const lines = records.map((r, i) => {
      const [beforeKey, afterKey] = 'func_src_before' in r ? ['func_src_before', 'func_src_after'] : ['before', 'after'];
      const name = String(r.file_name ?? '');
      const hash = /\.(py|rb)$/.test(name) || r.language === 'python' || r.language === 'ruby';
      const mark = `${hash ? '#' : '//'} scale bench copy ${copy}.${i}`;
      const append = (code: unknown): string => `${String(code).replace(/\n?$/, '')}\n${mark}\n`;
      return JSON.stringify({ ...r, [beforeKey]: append(r[beforeKey]), [afterKey]: append(r[afterKey]) });
    });
    writeFileSync(join(dir, `copy-${String(copy).padStart(4, '0')}.jsonl`), `${lines.join('\n')}\n`);
  }
}

/** One build in this process (the child): the figures per stage, as JSON on the last line of stdout. */
async function child(scale: number, sources: string[], kbDir: string): Promise<void> {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const { catalog, catalogPath } = await sharedCatalog(shared);
  const stages: Partial<Record<KbBuildStage, StageFigures>> = {};
  let peak = 0;
  const sample = (): void => {
    peak = Math.max(peak, process.memoryUsage.rss());
  };
  const sampler = setInterval(sample, 50);
  let stage: KbBuildStage | undefined;
  const livePeaks: Partial<Record<KbBuildStage, NonNullable<StageFigures['livePeak']>>> = {};
  const liveSampler = process.env.BENCH_BUILD_LIVE
    ? setInterval(() => {
        if (!stage) return;
        gc();
        const m = process.memoryUsage();
        const now = { totalMb: mb(m.heapUsed + m.external), heapMb: mb(m.heapUsed), arrayBuffersMb: mb(m.arrayBuffers), externalMb: mb(m.external - m.arrayBuffers) };
        if (now.totalMb > (livePeaks[stage]?.totalMb ?? -1)) livePeaks[stage] = now;
      }, 1000)
    : undefined;
  const before = load();
  const t = performance.now();
  const report = await buildKnowledgeBase({
    sources,
    kbDir,
    catalog,
    catalogPath,
    ...EMBEDDED_BUILD,
    onStage: (name, event) => {
      if (event === 'start') {
        peak = process.memoryUsage.rss();
        stage = name;
      }
      if (event !== 'done') return;
      sample();
      const peakRssMb = mb(peak);
      gc();
      const m = process.memoryUsage();
      stages[name] = {
        ms: 0,
        peakRssMb,
        maxRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
        liveHeapMb: mb(m.heapUsed),
        arrayBuffersMb: mb(m.arrayBuffers),
        ...(livePeaks[name] ? { livePeak: livePeaks[name] } : {}),
      };
      stage = undefined;
    },
  });
  const wallMs = Math.round(performance.now() - t);
  clearInterval(sampler);
  if (liveSampler) clearInterval(liveSampler);
  for (const [stage, ms] of Object.entries(report.stageMs)) if (stages[stage as KbBuildStage]) (stages[stage as KbBuildStage] as StageFigures).ms = ms;
  const run: BuildRun = {
    scale,
    records: report.manifest.counts.records,
    nodes: report.manifest.counts.nodes,
    wallMs,
    maxRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
    stages,
    load: { before, after: load() },
  };
  process.stdout.write(`\n${JSON.stringify(run)}\n`);
}

function runChild(scale: number, sources: string[], kbDir: string): Promise<BuildRun> {
  return new Promise((done) => {
    // The parent's Node flags go to each build (`node --heap-growing-percent=10 bin/bench.js scale`),
    // as its environment does (MALLOC_ARENA_MAX): the memory settings the README measures.
    const proc = spawn(process.execPath, [...process.execArgv, __filename, 'child', String(scale), kbDir, ...sources], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    proc.stdout.on('data', (c: Buffer) => (out += c.toString()));
    proc.stderr.on('data', (c: Buffer) => (err += c.toString()));
    proc.on('close', (code, signal) => {
      const last = out.trim().split('\n').pop() ?? '';
      if (code === 0 && last.startsWith('{')) return done(JSON.parse(last) as BuildRun);
      done({
        scale,
        records: 0,
        nodes: 0,
        wallMs: 0,
        maxRssMb: 0,
        stages: {},
        load: { before: [], after: load() },
        error: `exited ${code ?? signal}: ${err.trim().split('\n').slice(-25).join(' | ')}`,
      });
    });
  });
}

async function main(): Promise<void> {
  const kbSource = join(shared, 'kb-source');
  if (!existsSync(kbSource)) {
    process.stdout.write(`bench:scale skipped: ${kbSource} is absent (the shared data sits beside the repository)\n`);
    if (process.env.BENCH_JSON) writeFileSync(process.env.BENCH_JSON, JSON.stringify({ skipped: `${kbSource} is absent` }));
    return;
  }
  const work = mkdtempSync(join(tmpdir(), 'rescue-bench-scale-'));
  const copies = join(work, 'copies');
  mkdirSync(copies);
  const runs: BuildRun[] = [];
  try {
    process.stdout.write(`bench:scale: embedded builds (extractive, local embedder) of ${kbSource} × ${SCALES.join(', ')} + the CWE catalogue, each in a child process; load ${load().join(' ')}\n`);
    let written = 1;
    for (const scale of [...SCALES].sort((a, b) => a - b)) {
      writeCopies(kbSource, copies, written, scale);
      written = Math.max(written, scale);
      const sources = [kbSource, ...(scale > 1 ? jsonlFiles(copies).slice(0, scale - 1) : [])];
      const kbDir = join(work, `kb-${scale}`);
      const run = await runChild(scale, sources, kbDir);
      rmSync(kbDir, { recursive: true, force: true });
      runs.push(run);
      process.stdout.write(line(run, runs[0]));
      if (run.error) break;
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const figures = figuresOf(runs);
  if (process.env.BENCH_JSON) writeFileSync(process.env.BENCH_JSON, JSON.stringify({ load: loadavg(), figures, runs }, null, 1));
}

function line(r: BuildRun, one: BuildRun): string {
  if (r.error) return `  ${String(r.scale).padStart(4)}× failed: ${r.error}\n`;
  const perRecord =
    r !== one && r.records > one.records
      ? `; growth over 1×: ${(((r.maxRssMb - one.maxRssMb) * 1024) / (r.records - one.records)).toFixed(1)} KB and ${((r.wallMs - one.wallMs) / (r.records - one.records)).toFixed(1)} ms per record`
      : '';
  const stages = Object.entries(r.stages)
    .map(
      ([s, f]) =>
        `\n        ${s.padEnd(10)} ${(f.ms / 1000).toFixed(1).padStart(7)} s  rss peak ${String(f.peakRssMb).padStart(5)} MB (process peak ${f.maxRssMb})  live heap after ${f.liveHeapMb} MB, buffers ${f.arrayBuffersMb} MB` +
        (f.livePeak ? `; live at most ${f.livePeak.totalMb} MB (heap ${f.livePeak.heapMb}, array buffers ${f.livePeak.arrayBuffersMb}, other native ${f.livePeak.externalMb})` : ''),
    )
    .join('');
  return `  ${String(r.scale).padStart(4)}× ${r.records} records, ${r.nodes} nodes: ${(r.wallMs / 1000).toFixed(1)} s, peak RSS ${r.maxRssMb} MB${perRecord} (load ${r.load.before[0]} → ${r.load.after[0]})${stages}\n`;
}

/** Each scale's build time and peak RSS beside the same at 1× in this run; the goal at 100×. */
function figuresOf(runs: BuildRun[]): Figure[] {
  const one = runs.find((r) => r.scale === 1 && !r.error);
  return runs
    .filter((r) => !r.error)
    .flatMap((r) => {
      const base = (value: number | undefined, name: string): Partial<Figure> => (one && r !== one && value !== undefined ? { baseline: { name, value } } : {});
      return [
        { name: `build ${r.scale}× (${r.records} records) wall time`, value: r.wallMs, unit: 'ms', ...base(one?.wallMs, 'same at 1×') },
        { name: `build ${r.scale}× peak RSS`, value: r.maxRssMb, unit: 'MB', ...base(one?.maxRssMb, 'same at 1×'), ...(r.scale === 100 ? { goal: `≤ ${GOAL_MB}` } : {}) },
        ...Object.entries(r.stages).map(([s, f]) => ({ name: `build ${r.scale}× ${s}`, value: f.ms, unit: 'ms', ...base(one?.stages[s as KbBuildStage]?.ms, 'same at 1×') })),
      ];
    });
}

if (process.argv[2] === 'child') {
  const [scale, kbDir, ...sources] = process.argv.slice(3);
  child(Number(scale), sources, kbDir).catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
} else {
  main().catch((err: unknown) => {
    process.stderr.write(`bench:scale failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
}
