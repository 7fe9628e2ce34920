import { join } from 'node:path';
import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { ingestEnv, loadConfig } from '@rescue/config';
import { FsRecordStore, type FormatChoice, type IngestReport, type Reject, expandSources, formatReject, runIngest, withExclusiveLock } from '@rescue/datasets';
import { InvalidInputError } from '@rescue/domain';

interface IngestOptions {
  source: string[];
  format: FormatChoice;
  out: string;
  json?: boolean;
  strict?: boolean;
  maxLineBytes?: string;
}

const SHOWN_REJECTS = 10;

const sortedCounts = (m: Record<string, number>): string =>
  Object.entries(m)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');

function summary(report: IngestReport, out: string, rejectsPath: string): string {
  const seconds = report.durationMs / 1000;
  const rate = seconds > 0 ? Math.round(report.linesRead / seconds) : report.linesRead;
  const lines = [
    `Ingested ${report.files} file(s): ${report.linesRead} lines read in ${seconds.toFixed(2)} s (${rate} lines/s)`,
    `  kept         ${report.kept} distinct records (${report.newInStore} new in the store)`,
    `  duplicates   ${report.duplicates}`,
    `  rejected     ${report.rejected}${report.rejected ? `: ${sortedCounts(report.rejectedByReason as Record<string, number>)}` : ''}`,
    `  languages    ${sortedCounts(report.byLanguage) || '-'}`,
    `  CWEs (${Object.keys(report.byCwe).length})    ${sortedCounts(report.byCwe) || '-'}`,
    `  formats      ${sortedCounts(report.byFormat as Record<string, number>) || '-'}`,
    `  changed lines from diff (dataset gave none): ${report.changedLinesFromDiff}`,
    `Records: ${join(out, 'records')}   Rejects: ${rejectsPath}`,
  ];
  return lines.join('\n');
}

export function registerKbIngest(kb: Command): void {
  kb.command('ingest')
    .description('Read, validate and normalize vulnerability-fix pairs (SVEN, SafeCoder or the generic JSONL schema) into the record store')
    .requiredOption('-s, --source <paths...>', 'JSONL files or directories (read recursively)')
    .option('-f, --format <format>', 'auto | sven | safecoder | generic', 'auto')
    .option('-o, --out <dir>', 'output directory: records/ and ingest/rejects.jsonl', 'rescue-data')
    .option('--max-line-bytes <n>', 'reject lines longer than this many bytes (default: INGEST_MAX_LINE_BYTES or 8 MiB)')
    .option('--strict', 'exit with status 1 when any line is rejected')
    .option('--json', 'print the report as JSON')
    .action(async (opts: IngestOptions) => {
      if (!['auto', 'sven', 'safecoder', 'generic'].includes(opts.format)) {
        throw new InvalidInputError(`--format must be auto, sven, safecoder or generic, not ${JSON.stringify(opts.format)}`);
      }
      const env = loadConfig(ingestEnv, opts.maxLineBytes ? { INGEST_MAX_LINE_BYTES: opts.maxLineBytes } : undefined);
      const rejectsPath = join(opts.out, 'ingest', 'rejects.jsonl');
      const shown: Reject[] = [];
      const { files } = await expandSources(opts.source);
      const bar = !opts.json && process.stderr.isTTY ? new SingleBar({ format: 'ingest [{bar}] {value}/{total} files | {lines} lines', stream: process.stderr, clearOnComplete: true }) : undefined;
      bar?.start(files.length, 0, { lines: 0 });
      const store = new FsRecordStore(join(opts.out, 'records'));
      // One writer per --out (the same lock a KB build holds when --out is a KB folder): a second
      // run would interleave the rejects file and race the records it writes.
      const { report } = await withExclusiveLock(join(opts.out, '.lock'), { purpose: 'ingest --out' }, () =>
        runIngest(
          { sources: opts.source, format: opts.format, maxLineBytes: env.INGEST_MAX_LINE_BYTES, store, rejectsPath },
          {
            onReject: (r) => {
              if (shown.length < SHOWN_REJECTS) shown.push(r);
            },
            onFileDone: (_file, running) => bar?.increment(1, { lines: running.linesRead }),
          },
        ),
      );
      // Closing releases the store's writer lock and writes its index snapshot now, before the
      // process may exit (the next open would otherwise scan every segment).
      await store.close();
      bar?.stop();
      if (opts.json) {
        process.stdout.write(`${JSON.stringify({ ...report, recordsDir: join(opts.out, 'records'), rejectsPath }, null, 2)}\n`);
      } else {
        process.stdout.write(`${summary(report, opts.out, rejectsPath)}\n`);
        if (shown.length > 0) {
          process.stderr.write(`First ${shown.length} of ${report.rejected} rejects:\n${shown.map((r) => `  ${formatReject(r)}`).join('\n')}\n`);
        }
      }
      if (opts.strict && report.rejected > 0) process.exitCode = 1;
    });
}
