import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { FixPairIngestor, FsRecordStore, type RecordStore, expandSources } from '@rescue/datasets';
import type { FixRecord } from '@rescue/domain';
import type { Figure } from './bench-figures';

// Ingest throughput over the shared fix-pair data, against a baseline measured in the same run:
// reading the same files and JSON.parse of every line (the least any ingest must do). Reported
// as ratios, so the numbers mean the same on a slower machine.

const RUNS = 7;
const dataDir = resolve(__dirname, '../../../../shared/data/kb-source');

class NullStore implements RecordStore {
  async putMany(records: FixRecord[]) {
    return { added: records.length, existing: 0 };
  }
  async get() {
    return undefined;
  }
  async has() {
    return false;
  }
  async getMany(ids: readonly string[]) {
    return ids.map(() => undefined);
  }
  async hasMany(ids: readonly string[]) {
    return ids.map(() => false);
  }
  async *ids() {}
  async count() {
    return 0;
  }
  async close() {}
}

/**
 * The folder store's old layout, one file per record written atomically (what FsRecordStore was
 * before its segments), kept here only as a same-run reference for the figure it replaced.
 */
class OneFilePerRecordStore extends NullStore {
  constructor(private readonly dir: string) {
    super();
  }
  override async putMany(records: FixRecord[]) {
    const unique = [...new Map(records.map((r) => [r.id, r])).values()];
    await Promise.all([...new Set(unique.map((r) => r.id.slice(0, 2)))].map((s) => mkdir(join(this.dir, s), { recursive: true })));
    const written = await Promise.all(
      unique.map(async (r) => {
        const path = join(this.dir, r.id.slice(0, 2), `${r.id}.json`);
        const json = JSON.stringify(r);
        const old = await readFile(path, 'utf8').catch(() => undefined);
        if (old !== json) await writeFileAtomic(path, json);
        return old === undefined;
      }),
    );
    const added = written.filter(Boolean).length;
    return { added, existing: records.length - added };
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** The time `fn` takes, or the time it says its measured part took. */
async function time(fn: () => Promise<number | void>): Promise<number> {
  const t = performance.now();
  const own = await fn();
  return typeof own === 'number' ? own : performance.now() - t;
}

async function main(): Promise<void> {
  if (!existsSync(dataDir)) {
    process.stdout.write(`bench:ingest skipped: ${dataDir} is absent (the shared data sits beside the repository)\n`);
    return;
  }
  const { files } = await expandSources([dataDir]);
  let lines = 0;
  let bytes = 0;
  const baseline = async (): Promise<void> => {
    lines = 0;
    bytes = 0;
    for (const f of files) {
      const text = readFileSync(f, 'utf8');
      bytes += Buffer.byteLength(text);
      for (const line of text.split('\n'))
        if (line.trim()) {
          JSON.parse(line);
          lines += 1;
        }
    }
  };
  let kept = 0;
  const parseOnly = async (): Promise<void> => {
    kept = (await new FixPairIngestor(new NullStore()).ingest([dataDir], { format: 'auto', maxLineBytes: 8 << 20 })).kept;
  };
  // Timed from opening the store to closing it (the folder store lets its lock go and saves its
  // index snapshot there); making and removing the scratch folder is the bench's, not ingest's.
  const intoFolder = (open: (dir: string) => RecordStore) => async (): Promise<number> => {
    const dir = mkdtempSync(join(tmpdir(), 'rescue-bench-'));
    try {
      const started = performance.now();
      const store = open(dir);
      await new FixPairIngestor(store).ingest([dataDir], { format: 'auto', maxLineBytes: 8 << 20 });
      await store.close();
      return performance.now() - started;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  const withFsStore = intoFolder((dir) => new FsRecordStore(dir));
  const withOneFilePerRecord = intoFolder((dir) => new OneFilePerRecordStore(dir));
  const tBase: number[] = [];
  const tParse: number[] = [];
  const tFs: number[] = [];
  const tOld: number[] = [];
  const loadBefore = loadavg()[0];
  // Each timed path runs once untimed first, so that no figure includes compiling its code (the
  // store's first runs took up to twice its later ones).
  await baseline();
  await parseOnly();
  await withFsStore();
  // Interleaved, so that a change of load touches every figure alike. The old layout is timed in a
  // loop of its own afterwards: its thousands of small synced files leave the disk writing back
  // into whatever follows it.
  for (let i = 0; i < RUNS; i += 1) {
    tBase.push(await time(baseline));
    tParse.push(await time(parseOnly));
    tFs.push(await time(withFsStore));
  }
  await withOneFilePerRecord();
  for (let i = 0; i < RUNS; i += 1) tOld.push(await time(withOneFilePerRecord));
  const b = median(tBase);
  const p = median(tParse);
  const f = median(tFs);
  const o = median(tOld);
  const rate = (n: number, ms: number) => Math.round((n / ms) * 1000);
  const rows = [
    ['baseline: read + JSON.parse', b, rate(lines, b), tBase],
    ['ingest (validate, normalize, dedupe), no store', p, rate(lines, p), tParse],
    ['ingest into the filesystem record store', f, rate(lines, f), tFs],
    ['  the same into one file per record (old layout)', o, rate(lines, o), tOld],
  ] as const;
  // The fastest runs too: on a busy machine the median moves with the load, the fastest run less.
  const fastest = Math.min(...tBase);
  process.stdout.write(
    `bench:ingest over ${files.length} files, ${lines} lines, ${(bytes / 1e6).toFixed(1)} MB, ${kept} records kept; median of ${RUNS} runs; load average ${loadBefore.toFixed(2)} → ${loadavg()[0].toFixed(2)} on ${availableParallelism()} cores\n`,
  );
  for (const [name, ms, lps, runs] of rows) {
    const best = Math.min(...runs);
    process.stdout.write(
      `  ${name.padEnd(48)} ${ms.toFixed(1).padStart(8)} ms  ${String(lps).padStart(7)} lines/s  ${(ms / b).toFixed(2)}× baseline  (fastest run ${best.toFixed(1)} ms, ${(best / fastest).toFixed(2)}× the fastest baseline)\n`,
    );
  }
  process.stdout.write(`  records/s (filesystem store): ${rate(kept, f)}   MB/s: ${(bytes / 1e6 / (f / 1000)).toFixed(1)}\n`);
  // BENCH_JSON=<file>: the figures `npm run bench` tabulates, each beside this run's read + parse.
  const baselineOf = { name: 'read + JSON.parse', value: Math.round(b * 10) / 10 };
  const figures: Figure[] = [
    { name: 'ingest, no store', value: Math.round(p * 10) / 10, unit: 'ms', baseline: baselineOf },
    { name: 'ingest into the filesystem store', value: Math.round(f * 10) / 10, unit: 'ms', baseline: baselineOf, goal: '≤ 3× baseline' },
    { name: 'ingest into one file per record (old layout)', value: Math.round(o * 10) / 10, unit: 'ms', baseline: baselineOf },
  ];
  if (process.env.BENCH_JSON) writeFileSync(process.env.BENCH_JSON, JSON.stringify({ load: loadavg(), figures }, null, 1));
}

void main();
