import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { ingestEnv, loadConfig } from '@rescue/config';
import { FixPairIngestor, MemoryRecordStore, assertWritableFilePath } from '@rescue/datasets';
import { type FixRecord, InvalidInputError } from '@rescue/domain';
import { type SliceGroupStats, SliceStatsCollector, Slicer } from '@rescue/slicing';
import { intOption } from '../options';

interface SliceOptions {
  source: string[];
  hops: string;
  out?: string;
  json?: boolean;
  timeBudgetMs?: string;
}

function row(name: string, s: SliceGroupStats): string {
  const failures =
    Object.entries(s.failures)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ') || '-';
  const m = s.meanLines;
  return [
    name.padEnd(11),
    String(s.functions).padStart(5),
    String(s.sliced).padStart(6),
    `${m.vulnerable.before.toFixed(1)}→${m.vulnerable.after.toFixed(1)}`.padStart(12),
    `${m.secure.before.toFixed(1)}→${m.secure.after.toFixed(1)}`.padStart(12),
    `${s.reductionPct.toFixed(1)}%`.padStart(8),
    `${s.poiRetentionPct.toFixed(1)}%`.padStart(8),
    `${s.validSlicePct.toFixed(1)}% (${s.validFunctionPct.toFixed(1)}%)`.padStart(16),
    `  ${failures}`,
  ].join(' ');
}

export function registerKbSlice(kb: Command): void {
  kb.command('slice')
    .description('Slice fix pairs to the statements around their changed lines (2-hop, bidirectional, over a program dependence graph)')
    .requiredOption('-s, --source <paths...>', 'fix-pair JSONL files or directories (as for `kb ingest`)')
    .option('--hops <h>', 'dependence hops from the changed lines, backward and forward', '2')
    .option('-o, --out <file>', 'write one JSON line per record: the slice, or the classified failure')
    .option('--time-budget-ms <ms>', 'wall-clock safety net per function (a deterministic work budget decides too_complex; this only reports a timeout)', '60000')
    .option('--json', 'print the statistics as JSON')
    .action(async (opts: SliceOptions) => {
      const hops = intOption('--hops', opts.hops, 0, 10);
      const budget = Number(opts.timeBudgetMs);
      if (!Number.isFinite(budget) || budget <= 0) throw new InvalidInputError(`--time-budget-ms must be a positive number, not ${JSON.stringify(opts.timeBudgetMs)}`);
      if (opts.out) await assertWritableFilePath(opts.out, '--out');
      const env = loadConfig(ingestEnv);
      const store = new MemoryRecordStore();
      const ingest = await new FixPairIngestor(store).ingest(opts.source, { format: 'auto', maxLineBytes: env.INGEST_MAX_LINE_BYTES });
      const records: FixRecord[] = [];
      for await (const id of store.ids()) records.push((await store.get(id)) as FixRecord);

      const slicer = await Slicer.create({ timeBudgetMs: budget });
      const stats = new SliceStatsCollector();
      let out: ReturnType<typeof createWriteStream> | undefined;
      if (opts.out) {
        await mkdir(dirname(opts.out), { recursive: true });
        out = createWriteStream(opts.out);
      }
      const bar = !opts.json && process.stderr.isTTY ? new SingleBar({ format: 'slice [{bar}] {value}/{total} functions', stream: process.stderr, clearOnComplete: true }) : undefined;
      bar?.start(records.length, 0);
      const started = performance.now();
      let lines = 0;
      for (const record of records) {
        const outcome = await slicer.sliceRecord(record, hops);
        stats.add(outcome);
        lines += record.before.split('\n').length + record.after.split('\n').length;
        out?.write(`${JSON.stringify(outcome.ok ? { status: 'sliced', ...outcome.slice } : { status: 'failed', ...outcome.failure })}\n`);
        bar?.increment();
      }
      bar?.stop();
      const seconds = (performance.now() - started) / 1000;
      if (out) await new Promise<void>((resolve) => out?.end(resolve));
      const throughput = { seconds: Math.round(seconds * 100) / 100, functionsPerSecond: Math.round(records.length / seconds), linesPerSecond: Math.round(lines / seconds) };
      if (opts.json) {
        const perLanguage = Object.fromEntries(stats.languages().map((l) => [l, stats.stats(l)]));
        process.stdout.write(`${JSON.stringify({ hops, records: records.length, ingestRejected: ingest.rejected, overall: stats.stats(), perLanguage, throughput }, null, 2)}\n`);
        return;
      }
      const header = `${'language'.padEnd(11)} ${'funcs'.padStart(5)} ${'sliced'.padStart(6)} ${'vuln lines'.padStart(12)} ${'secure lines'.padStart(12)} ${'reduct.'.padStart(8)} ${'POI kept'.padStart(8)} ${'valid (whole fn)'.padStart(16)}   failures`;
      process.stdout.write(
        `Sliced ${records.length} records with h = ${hops} in ${throughput.seconds} s (${throughput.functionsPerSecond} records/s, ${throughput.linesPerSecond} lines/s)\n${header}\n`,
      );
      for (const l of stats.languages()) process.stdout.write(`${row(l, stats.stats(l))}\n`);
      process.stdout.write(`${row('all', stats.stats())}\n`);
      if (opts.out) process.stdout.write(`Slices: ${opts.out}\n`);
    });
}
