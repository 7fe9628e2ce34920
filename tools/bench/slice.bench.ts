import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { FixPairIngestor, MemoryRecordStore } from '@rescue/datasets';
import type { FixRecord } from '@rescue/domain';
import { DEFAULT_LIMITS, ParserRegistry, Slicer } from '@rescue/slicing';

// Slicing throughput over the shared fix pairs, against a baseline measured in the same run: bare
// tree-sitter parsing of the same functions (both versions), which slicing must do anyway. The
// ratio says what the dependence graph, the slices and the validity re-parse cost on top.

const RUNS = 3;
const dataDir = resolve(__dirname, '../../../../shared/data/kb-source');
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

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

  const parseAll = async (): Promise<void> => {
    for (const r of records) {
      for (const code of [r.before, r.after]) {
        const tree = await registry.parse(r.language, code, DEFAULT_LIMITS);
        tree.delete();
      }
    }
  };
  let sliced = 0;
  const sliceAll = async (): Promise<void> => {
    sliced = 0;
    for (const r of records) if ((await slicer.sliceRecord(r, 2)).ok) sliced += 1;
  };
  await parseAll();
  await sliceAll();
  const tParse: number[] = [];
  const tSlice: number[] = [];
  for (let i = 0; i < RUNS; i += 1) {
    let t = performance.now();
    await parseAll();
    tParse.push(performance.now() - t);
    t = performance.now();
    await sliceAll();
    tSlice.push(performance.now() - t);
  }
  const p = median(tParse);
  const s = median(tSlice);
  const per = (n: number, ms: number) => Math.round((n / ms) * 1000);
  process.stdout.write(`bench:slice over ${records.length} fix pairs (${2 * records.length} functions, ${lines} lines), h = 2; median of ${RUNS} runs\n`);
  process.stdout.write(
    `  baseline: tree-sitter parse of both versions  ${p.toFixed(0).padStart(7)} ms  ${String(per(2 * records.length, p)).padStart(6)} functions/s  ${String(per(lines, p)).padStart(7)} lines/s  1.00×\n`,
  );
  process.stdout.write(
    `  slice (parse, PDG, slices, re-parse, APIs)    ${s.toFixed(0).padStart(7)} ms  ${String(per(2 * records.length, s)).padStart(6)} functions/s  ${String(per(lines, s)).padStart(7)} lines/s  ${(s / p).toFixed(2)}× baseline\n`,
  );
  process.stdout.write(`  sliced ${sliced} of ${records.length} records\n`);
}

void main();
