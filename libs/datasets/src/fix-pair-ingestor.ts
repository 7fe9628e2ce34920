import type { z } from 'zod';
import type { DatasetFormat, FixRecord } from '@rescue/domain';
import { detectFormat, genericRecordSchema, svenRecordSchema } from './fix-pair-formats';
import { readLines } from './line-reader';
import { normalizeGenericRecord, normalizeSvenRecord } from './normalize';
import { RecordStoreError, type RecordStore } from './record-store';
import type { Reject, RejectCode } from './rejects';
import { parseJsonSafely } from './safe-json';
import { expandSources } from './sources';

export type FormatChoice = 'auto' | DatasetFormat;

export interface IngestOptions {
  format: FormatChoice;
  /** Lines longer than this are rejected without being buffered. */
  maxLineBytes: number;
  /** Records written to the store per call. */
  batchSize?: number;
}

export interface IngestHooks {
  onReject?: (reject: Reject) => void;
  /** Called once for each record kept (its first occurrence in the run). */
  onRecord?: (record: FixRecord) => void;
  /** Called after each file with the running totals. */
  onFileDone?: (file: string, report: IngestReport) => void;
}

export interface IngestReport {
  files: number;
  /** Non-blank lines read. */
  linesRead: number;
  /** Distinct records kept by this run. */
  kept: number;
  /** Lines whose record was already kept earlier in this run (same content id). */
  duplicates: number;
  rejected: number;
  rejectedByReason: Partial<Record<RejectCode, number>>;
  /** Kept records the store did not hold before (a re-run of the same input writes 0). */
  newInStore: number;
  byLanguage: Record<string, number>;
  byCwe: Record<string, number>;
  byFormat: Partial<Record<DatasetFormat, number>>;
  /** Kept records whose changed lines came from a diff rather than the dataset. */
  changedLinesFromDiff: number;
  bytesRead: number;
  durationMs: number;
}

export type LineOutcome = { ok: true; record: FixRecord } | { ok: false; reject: Omit<Reject, 'file' | 'line'> };

const excerpt = (s: string, max = 80): string => (s.length > max ? `${s.slice(0, max)}…` : s);

function zodReject(error: z.ZodError, value: Record<string, unknown>): Omit<Reject, 'file' | 'line'> {
  const issue = error.issues[0];
  const field = issue.path.join('.') || '(root)';
  const got = issue.path.reduce<unknown>((node, key) => (node && typeof node === 'object' ? (node as Record<string, unknown>)[key as string] : undefined), value);
  const missing = got === undefined;
  const more = error.issues.length > 1 ? ` (+${error.issues.length - 1} more: ${error.issues.slice(1, 4).map((i) => i.path.join('.')).join(', ')})` : '';
  return {
    code: missing ? 'missing_field' : 'wrong_type',
    field,
    value: missing ? undefined : excerpt(typeof got === 'string' ? got : JSON.stringify(got) ?? String(got)),
    message: `${missing ? 'required field is missing' : issue.message}${more}`,
  };
}

/**
 * Turns one line of text into a normalized record or a reject. Pure: the same line always gives
 * the same outcome, which is what makes re-ingest idempotent.
 */
export function parseFixPairLine(text: string, format: FormatChoice, origin: { file: string; line: number }): LineOutcome {
  const parsed = parseJsonSafely(text);
  if (!parsed.ok) return { ok: false, reject: { code: parsed.code, field: parsed.field, message: parsed.message } };
  const value = parsed.value;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { ok: false, reject: { code: 'not_an_object', message: `expected a JSON object per line, got ${Array.isArray(value) ? 'an array' : value === null ? 'null' : typeof value}` } };
  }
  const obj = value as Record<string, unknown>;
  const detected = format === 'auto' ? detectFormat(obj) : format;
  if (!detected) {
    return {
      ok: false,
      reject: {
        code: 'unknown_format',
        message: 'not a fix pair: expected SVEN/SafeCoder fields (func_src_before, func_src_after, vul_type, file_name) or the generic schema (cwe, before, after, language)',
      },
    };
  }
  const recordOrigin = { ...origin, format: detected };
  if (detected === 'generic') {
    const r = genericRecordSchema.safeParse(obj);
    if (!r.success) return { ok: false, reject: zodReject(r.error, obj) };
    const n = normalizeGenericRecord(r.data, recordOrigin);
    return n.ok ? n : { ok: false, reject: n.problem };
  }
  const r = svenRecordSchema.safeParse(obj);
  if (!r.success) return { ok: false, reject: zodReject(r.error, obj) };
  const n = normalizeSvenRecord(r.data, recordOrigin);
  return n.ok ? n : { ok: false, reject: n.problem };
}

function emptyReport(): IngestReport {
  return { files: 0, linesRead: 0, kept: 0, duplicates: 0, rejected: 0, rejectedByReason: {}, newInStore: 0, byLanguage: {}, byCwe: {}, byFormat: {}, changedLinesFromDiff: 0, bytesRead: 0, durationMs: 0 };
}

const bump = <K extends string>(m: Partial<Record<K, number>>, k: K): void => {
  m[k] = (m[k] ?? 0) + 1;
};

/**
 * Streams fix-pair files into a record store: each line is validated and normalized on its own,
 * a bad line becomes a reject (file, line, field, reason) and never stops the lines around it,
 * and records are de-duplicated by content id across all files of the run.
 */
export class FixPairIngestor {
  constructor(private readonly store: RecordStore) {}

  async ingest(sources: string[], options: IngestOptions, hooks: IngestHooks = {}): Promise<IngestReport> {
    const started = performance.now();
    const report = emptyReport();
    const seen = new Set<string>();
    const batchSize = options.batchSize ?? 256;
    let batch: FixRecord[] = [];

    const reject = (r: Reject): void => {
      report.rejected += 1;
      bump(report.rejectedByReason, r.code);
      hooks.onReject?.(r);
    };
    const flush = async (): Promise<void> => {
      if (batch.length === 0) return;
      let added: number;
      try {
        ({ added } = await this.store.putMany(batch));
      } catch (err) {
        // The store's own verdict on a bad id stands; any other failure is the store's, so may pass on retry.
        throw new RecordStoreError(`writing ${batch.length} records to the record store failed: ${(err as Error).message}`, { cause: err, kind: err instanceof RecordStoreError ? err.kind : 'transient' });
      }
      report.newInStore += added;
      batch = [];
    };

    const { files, problems } = await expandSources(sources);
    for (const p of problems) reject({ file: p.path, line: 0, code: 'unreadable_file', message: p.message });

    for (const file of files) {
      report.files += 1;
      try {
        for await (const line of readLines(file, {
          maxLineBytes: options.maxLineBytes,
          onVerdict: (v) => {
            if (v.binary) reject({ file, line: 0, code: 'binary_file', message: `not a text file: ${v.reason}; nothing read from it` });
          },
        })) {
          report.linesRead += 1;
          report.bytesRead += line.byteLength;
          if (line.kind === 'too-long') {
            reject({ file, line: line.lineNo, code: 'line_too_long', message: `line is ${line.byteLength} bytes, over the limit of ${options.maxLineBytes} (raise INGEST_MAX_LINE_BYTES if it is legitimate)` });
            continue;
          }
          if (line.kind === 'invalid-utf8') {
            reject({ file, line: line.lineNo, code: 'invalid_utf8', message: `invalid UTF-8 at byte ${line.byteOffset} of the line; re-encode the file as UTF-8` });
            continue;
          }
          const outcome = parseFixPairLine(line.text, options.format, { file, line: line.lineNo });
          if (!outcome.ok) {
            reject({ file, line: line.lineNo, ...outcome.reject });
            continue;
          }
          const record = outcome.record;
          if (seen.has(record.id)) {
            report.duplicates += 1;
            continue;
          }
          seen.add(record.id);
          report.kept += 1;
          bump(report.byLanguage, record.language);
          bump(report.byCwe, record.cwe);
          bump(report.byFormat, record.origin.format);
          if (record.changedLines.source === 'diff') report.changedLinesFromDiff += 1;
          hooks.onRecord?.(record);
          batch.push(record);
          if (batch.length >= batchSize) await flush();
        }
      } catch (err) {
        // Only the file's own read errors become a reject; a failing store must stop the run.
        if (err instanceof RecordStoreError) throw err;
        const e = err as NodeJS.ErrnoException;
        reject({ file, line: 0, code: 'unreadable_file', message: `cannot read file: ${e.code ?? e.message}` });
      }
      await flush();
      report.durationMs = performance.now() - started;
      hooks.onFileDone?.(file, report);
    }
    await flush();
    report.durationMs = performance.now() - started;
    return report;
  }
}
