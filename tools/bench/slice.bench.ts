import { existsSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { resolve } from 'node:path';
import { FixPairIngestor, MemoryRecordStore } from '@rescue/datasets';
import type { FixRecord } from '@rescue/domain';
import { DEFAULT_LIMITS, ParserRegistry, Slicer, SlicerPool } from '@rescue/slicing';
import type { Figure } from './bench-figures';

// Slicing throughput over the shared fix pairs, against a baseline measured in the same run: bare
// tree-sitter parsing of the same functions (both versions), which slicing must do anyway. The
// ratio says what the dependence graph, the slices and the validity re-parse cost on top.
//
// Parse and slice alternate record by record (parse both versions of a record, then slice it), so
// the load of other processes on a shared machine falls on both alike; each is timed by the wall
// clock and by this process's CPU time, which a busy machine inflates much less.
// Then the slicing pool: every record through a SlicerPool of one thread per core, against this
// thread slicing them one after another in the same run.
// BENCH_JSON=<file> writes the figures as JSON (`npm run bench` collects them).

const RUNS = 3;
const dataDir = resolve(__dirname, '../../../../shared/data/kb-source');
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const cpuMs = (): number => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

interface Round {
  parseMs: number;
  parseCpuMs: number;
  sliceMs: number;
  sliceCpuMs: number;
  sliced: number;
}

async function main(): Promise<void> {
  if (!existsSync(dataDir)) {
    process.stdout.write(`bench:slice skipped: ${dataDir} is absent (the shared data sits beside the repository)\n`);
    return;
  }
  const store = new MemoryRecordStore();
  await new FixPairIngestor(store).ingest([dataDir], { format: 'auto', maxLineBytes: 8 << 20 });
  const records: FixRecord[] = [];
  for await (const id of store.ids()) records.push((await store.get(id)) as FixRecord);
  const registry = await ParserRegistry.create();
  const slicer = await Slicer.create();
  const lines = records.reduce((n, r) => n + r.before.split('\n').length + r.after.split('\n').length, 0);
  const functions = 2 * records.length;
  const loadBefore = loadavg();

  const round = async (): Promise<Round> => {
    const r: Round = { parseMs: 0, parseCpuMs: 0, sliceMs: 0, sliceCpuMs: 0, sliced: 0 };
    for (const record of records) {
      const t0 = performance.now();
      const c0 = cpuMs();
      for (const code of [record.before, record.after]) {
        const tree = await registry.parse(record.language, code, DEFAULT_LIMITS);
        tree.delete();
      }
      const t1 = performance.now();
      const c1 = cpuMs();
      if ((await slicer.sliceRecord(record, 2)).ok) r.sliced += 1;
      r.parseMs += t1 - t0;
      r.parseCpuMs += c1 - c0;
      r.sliceMs += performance.now() - t1;
      r.sliceCpuMs += cpuMs() - c1;
    }
    return r;
  };
  await round(); // grammars, queries and the JIT warm up
  const rounds: Round[] = [];
  for (let i = 0; i < RUNS; i += 1) rounds.push(await round());
  const p = median(rounds.map((r) => r.parseMs));
  const s = median(rounds.map((r) => r.sliceMs));
  const pc = median(rounds.map((r) => r.parseCpuMs));
  const sc = median(rounds.map((r) => r.sliceCpuMs));

  // The pool against this thread, back to back: the same records, all handed over at once (the
  // pool keeps two per thread in flight and the rest waiting).
  const threads = availableParallelism();
  const pool = await SlicerPool.create({ threads });
  let tPool = 0;
  let tOne = 0;
  try {
    await Promise.all(records.map((r) => pool.sliceRecord(r, 2))); // the threads load their grammars
    const t0 = performance.now();
    for (const r of records) await slicer.sliceRecord(r, 2);
    const t1 = performance.now();
    await Promise.all(records.map((r) => pool.sliceRecord(r, 2)));
    tOne = t1 - t0;
    tPool = performance.now() - t1;
  } finally {
    await pool.close();
  }
  const loadAfter = loadavg();

  const per = (n: number, ms: number): number => Math.round((n / ms) * 1000);
  const row = (name: string, ms: number, cpu: number, ratio: string): string =>
    `  ${name.padEnd(46)} ${ms.toFixed(0).padStart(7)} ms ${cpu.toFixed(0).padStart(7)} ms CPU  ${String(per(functions, ms)).padStart(6)} fn/s  ${String(per(functions, cpu)).padStart(6)} fn/CPU-s  ${String(per(lines, ms)).padStart(7)} lines/s  ${ratio}\n`;
  process.stdout.write(`bench:slice over ${records.length} fix pairs (${functions} functions, ${lines} lines), h = 2; median of ${RUNS} runs, parse and slice alternating record by record\n`);
  process.stdout.write(`  load ${loadBefore.map((l) => l.toFixed(2)).join(' ')} → ${loadAfter.map((l) => l.toFixed(2)).join(' ')} on ${threads} cores\n`);
  process.stdout.write(row('baseline: tree-sitter parse of both versions', p, pc, '1.00×'));
  process.stdout.write(row('slice (parse, PDG, slices, re-parse, APIs)', s, sc, `${(s / p).toFixed(2)}× baseline (wall), ${(sc / pc).toFixed(2)}× (CPU)`));
  process.stdout.write(`  sliced ${rounds[0].sliced} of ${records.length} records\n`);
  process.stdout.write(
    `  all records, this thread: ${tOne.toFixed(0)} ms (${per(functions, tOne)} fn/s); SlicerPool of ${threads} threads: ${tPool.toFixed(0)} ms (${per(functions, tPool)} fn/s), ${(tOne / tPool).toFixed(2)}× faster\n`,
  );
  if (process.env.BENCH_JSON) {
    const figures: Figure[] = [
      { name: 'slicing time over bare parsing (wall)', value: Math.round(s), unit: 'ms', baseline: { name: 'tree-sitter parse of both versions', value: Math.round(p) }, goal: '≤ 3× the baseline' },
      { name: 'slicing CPU time over bare parsing', value: Math.round(sc), unit: 'ms CPU', baseline: { name: 'tree-sitter parse of both versions', value: Math.round(pc) }, goal: '≤ 3× the baseline' },
      { name: 'slicing throughput per core (CPU time)', value: per(functions, sc), unit: 'functions/s', goal: '≥ 500' },
      { name: `slicing throughput, SlicerPool of ${threads} threads`, value: per(functions, tPool), unit: 'functions/s', baseline: { name: 'one thread, same run', value: per(functions, tOne) } },
    ];
    writeFileSync(process.env.BENCH_JSON, JSON.stringify({ load: { before: loadBefore, after: loadAfter }, figures }, null, 2));
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:slice failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
