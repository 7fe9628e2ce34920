import type { z } from 'zod';
import type { DatasetFormat, FixRecord } from '@rescue/domain';
import { detectFormat, genericRecordSchema, svenRecordSchema } from './fix-pair-formats';
import { readLines } from './line-reader';
import { normalizeGenericRecord, normalizeSvenRecord } from './normalize';
import { RecordStoreError, type RecordStore } from './record-store';
import type { Reject, RejectCode } from './rejects';
import { parseJsonSafely } from './safe-json';
import type { IngestManifest, SourceFileEntry } from './ingest-manifest';
import { expandSources } from './sources';

export type FormatChoice = 'auto' | DatasetFormat;

export interface IngestOptions {
  format: FormatChoice;
  /** Lines longer than this are rejected without being buffered. */
  maxLineBytes: number;
  /** Records written to the store per call. */
  batchSize?: number;
  /** What earlier runs into the same store got from each file: unchanged files are not read again (see IngestManifest). */
  manifest?: IngestManifest;
}

export interface IngestHooks {
  onReject?: (reject: Reject) => void;
  /** Called once for each record kept (its first occurrence in the run). */
  onRecord?: (record: FixRecord) => void;
  /**
   * Called after each file with the running totals. `newInStore` counts the batches written so far:
   * without a manifest, a file's last records may still wait in a batch that spans files.
   */
  onFileDone?: (file: string, report: IngestReport) => void;
}

export interface IngestReport {
  files: number;
  /** Files not read again: unchanged since the manifest recorded them (their lines are counted below as if read). */
  filesSkipped?: number;
  /** Non-blank lines read (including those of skipped files, as recorded). */
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

/** One line of a skipped file, as the manifest and the store give it back. */
type Replayed = { record: FixRecord; line: number } | { duplicate: string; line: number } | { reject: Reject; line: number };

/**
 * Puts outstanding at once. A parse loop over buffered lines runs on microtasks and lets the event
 * loop turn only when it reads the next chunk, so a put (a few turns: the lock, the write, the
 * fsync) took several chunks' parsing to finish; with one put outstanding, the next flush waited
 * for it (about 5 ms a run of bench:ingest, every run).
 */
const WRITES_IN_FLIGHT = 3;

/** Records an unchanged file's replay reads from the store at once. */
const REPLAY_READ_CHUNK = 256;

const excerpt = (s: string, max = 80): string => (s.length > max ? `${s.slice(0, max)}…` : s);

function zodReject(error: z.ZodError, value: Record<string, unknown>): Omit<Reject, 'file' | 'line'> {
  const issue = error.issues[0];
  const field = issue.path.join('.') || '(root)';
  const got = issue.path.reduce<unknown>((node, key) => (node && typeof node === 'object' ? (node as Record<string, unknown>)[key as string] : undefined), value);
  const missing = got === undefined;
  const more =
    error.issues.length > 1
      ? ` (+${error.issues.length - 1} more: ${error.issues
          .slice(1, 4)
          .map((i) => i.path.join('.'))
          .join(', ')})`
      : '';
  return {
    code: missing ? 'missing_field' : 'wrong_type',
    field,
    value: missing ? undefined : excerpt(typeof got === 'string' ? got : (JSON.stringify(got) ?? String(got))),
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
  return {
    files: 0,
    linesRead: 0,
    kept: 0,
    duplicates: 0,
    rejected: 0,
    rejectedByReason: {},
    newInStore: 0,
    byLanguage: {},
    byCwe: {},
    byFormat: {},
    changedLinesFromDiff: 0,
    bytesRead: 0,
    durationMs: 0,
  };
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
    // Batches are written while the next ones are read: a put waits mostly on the disk (its fsync),
    // which the reading need not wait for. Up to WRITES_IN_FLIGHT puts are outstanding; a store
    // may run them one after another (the folder store does). The manifest and the end of the run
    // wait for all of them, so a failing store still stops the run.
    const writes: Promise<void>[] = [];
    const settle = async (): Promise<void> => {
      while (writes.length > 0) await writes.shift();
    };
    const flush = async (): Promise<void> => {
      if (writes.length >= WRITES_IN_FLIGHT) await writes.shift();
      if (batch.length === 0) return;
      const records = batch;
      batch = [];
      const writing = this.store.putMany(records).then(
        ({ added }) => {
          report.newInStore += added;
        },
        (err: unknown) => {
          // The store's own verdict on a bad id stands; any other failure is the store's, so may pass on retry.
          throw new RecordStoreError(`writing ${records.length} records to the record store failed: ${(err as Error).message}`, {
            cause: err,
            kind: err instanceof RecordStoreError ? err.kind : 'transient',
          });
        },
      );
      // Handled now and thrown when awaited (by a later flush or settle), as a rejection nobody
      // awaits yet would end the process. Should the run fail otherwise first, its own failure is thrown.
      writing.catch(() => undefined);
      writes.push(writing);
    };

    const { files, problems } = await expandSources(sources);
    for (const p of problems) reject({ file: p.path, line: 0, code: 'unreadable_file', message: p.message });

    // Counts a valid line's record: kept on its first occurrence in the run, else a duplicate.
    const take = (record: FixRecord): void => {
      if (seen.has(record.id)) {
        report.duplicates += 1;
        return;
      }
      seen.add(record.id);
      report.kept += 1;
      bump(report.byLanguage, record.language);
      bump(report.byCwe, record.cwe);
      bump(report.byFormat, record.origin.format);
      if (record.changedLines.source === 'diff') report.changedLinesFromDiff += 1;
      hooks.onRecord?.(record);
    };

    for (const file of files) {
      report.files += 1;
      const known = await options.manifest?.lookup(file).catch(() => undefined);
      if (known?.entry) {
        const replayed = await this.replay(file, known.entry, seen);
        if (replayed) {
          report.filesSkipped = (report.filesSkipped ?? 0) + 1;
          report.linesRead += known.entry.lines;
          report.bytesRead += known.entry.bytes;
          for (const event of replayed) {
            if ('reject' in event) reject(event.reject);
            else if ('duplicate' in event) report.duplicates += 1;
            else take(event.record);
          }
          await options.manifest?.keep(file, known.fingerprint, known.entry);
          report.durationMs = performance.now() - started;
          hooks.onFileDone?.(file, report);
          continue;
        }
      }
      const outcome: Omit<SourceFileEntry, 'size' | 'mtimeMs' | 'sha256'> = { records: [], rejects: [], lines: 0, bytes: 0 };
      let readable = true;
      const rejectHere = (r: Reject): void => {
        outcome.rejects.push(r);
        reject(r);
      };
      try {
        for await (const line of readLines(file, {
          maxLineBytes: options.maxLineBytes,
          onVerdict: (v) => {
            if (v.binary) rejectHere({ file, line: 0, code: 'binary_file', message: `not a text file: ${v.reason}; nothing read from it` });
          },
        })) {
          report.linesRead += 1;
          report.bytesRead += line.byteLength;
          outcome.lines += 1;
          outcome.bytes += line.byteLength;
          if (line.kind === 'too-long') {
            rejectHere({
              file,
              line: line.lineNo,
              code: 'line_too_long',
              message: `line is ${line.byteLength} bytes, over the limit of ${options.maxLineBytes} (raise INGEST_MAX_LINE_BYTES if it is legitimate)`,
            });
            continue;
          }
          if (line.kind === 'invalid-utf8') {
            rejectHere({ file, line: line.lineNo, code: 'invalid_utf8', message: `invalid UTF-8 at byte ${line.byteOffset} of the line; re-encode the file as UTF-8` });
            continue;
          }
          const parsed = parseFixPairLine(line.text, options.format, { file, line: line.lineNo });
          if (!parsed.ok) {
            rejectHere({ file, line: line.lineNo, ...parsed.reject });
            continue;
          }
          const record = parsed.record;
          outcome.records.push([record.id, line.lineNo, record.origin.format]);
          const isNew = !seen.has(record.id);
          take(record);
          if (!isNew) continue;
          batch.push(record);
          if (batch.length >= batchSize) await flush();
        }
      } catch (err) {
        // Only the file's own read errors become a reject; a failing store must stop the run.
        if (err instanceof RecordStoreError) throw err;
        const e = err as NodeJS.ErrnoException;
        readable = false;
        reject({ file, line: 0, code: 'unreadable_file', message: `cannot read file: ${e.code ?? e.message}` });
      }
      // Kept only once its records are in the store, and never for a file that could not be read.
      // Without a manifest to keep, a batch may span files: each putMany is a durable write (an
      // fsync), and most source files hold far fewer records than a batch.
      if (known && readable) {
        await flush();
        await settle();
        await options.manifest?.keep(file, known.fingerprint, outcome);
      }
      report.durationMs = performance.now() - started;
      hooks.onFileDone?.(file, report);
    }
    await flush();
    await settle();
    await options.manifest?.save();
    report.durationMs = performance.now() - started;
    return report;
  }

  /**
   * An unchanged file's records (from the store, with this file's line and format as origin) and
   * rejects, in line order; undefined when a record is no longer in the store, so the file is read.
   */
  private async replay(file: string, entry: SourceFileEntry, seen: Set<string>): Promise<Replayed[] | undefined> {
    const events: Replayed[] = entry.rejects.map((r) => ({ reject: r, line: r.line }));
    // A record this run already kept counts as a duplicate: nothing downstream looks at it again.
    const wanted = [...new Set(entry.records.filter(([id]) => !seen.has(id)).map(([id]) => id))];
    const loaded = new Map<string, FixRecord>();
    // Read together, a chunk at a time (see RecordStore.getMany): one get per record was most of
    // an unchanged file's replay.
    for (let i = 0; i < wanted.length; i += REPLAY_READ_CHUNK) {
      const chunk = wanted.slice(i, i + REPLAY_READ_CHUNK);
      let found: (FixRecord | undefined)[];
      try {
        found = await this.store.getMany(chunk);
      } catch (err) {
        // A corrupt stored copy is as good as none: the file is read again, and that rewrite
        // repairs the entry (putMany overwrites a corrupt copy). Any other failure is the store's.
        if (err instanceof RecordStoreError && err.kind === 'invalid-input') return undefined;
        throw err;
      }
      for (let j = 0; j < chunk.length; j++) {
        const record = found[j];
        if (!record) return undefined;
        loaded.set(chunk[j], record);
      }
    }
    for (const [id, line, format] of entry.records) {
      const record = seen.has(id) ? undefined : loaded.get(id);
      // As a fresh read would make it: the store keeps the origin of whichever file first held the content.
      events.push(record ? { record: { ...record, origin: { file, line, format } }, line } : { duplicate: id, line });
    }
    // Stable: a line's record and a file-level reject (line 0) keep their relative order.
    return events.sort((a, b) => a.line - b.line);
  }
}
