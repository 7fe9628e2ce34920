import { createHash } from 'node:crypto';
import { diffLines } from 'diff';
import { type ChangedLines, type CweId, type FixRecord, type Language, type RecordOrigin, languageFromFileName, normalizeLanguageName, parseCweId } from '@rescue/domain';
import type { GenericRecord, SvenRecord } from './fix-pair-formats';
import type { RejectCode } from './rejects';

/** A field-level problem found while normalizing one record. */
export interface FieldProblem {
  code: RejectCode;
  field: string;
  message: string;
  value?: string;
}

export type NormalizeResult = { ok: true; record: FixRecord } | { ok: false; problem: FieldProblem };

/** `\r\n` and lone `\r` become `\n`, so the same code from Windows and Unix hashes equally. */
export function normalizeLineEndings(code: string): string {
  return code.includes('\r') ? code.replace(/\r\n?/g, '\n') : code;
}

/** The content id of a record: 32 hex digits of sha256 over language, CWE, before and after. */
export function fixRecordId(language: Language, cwe: CweId, before: string, after: string): string {
  const h = createHash('sha256');
  // The string itself is hashed (as UTF-8, as Buffer.byteLength counts it): a Buffer of each
  // function's bytes first was a copy of the code per record for the garbage collector to free.
  for (const part of [language, cwe, before, after]) h.update(`${Buffer.byteLength(part, 'utf8')}:`).update(part, 'utf8');
  return h.digest('hex').slice(0, 32);
}

/** Lines of `code` (one more than its line feeds), counted without splitting it into strings. */
function lineCount(code: string): number {
  let lines = 1;
  for (let i = code.indexOf('\n'); i !== -1; i = code.indexOf('\n', i + 1)) lines += 1;
  return lines;
}

/** Whether `code` has at least `n` lines: its line feeds are counted only that far. */
function hasLines(code: string, n: number): boolean {
  let lines = 1;
  for (let i = code.indexOf('\n'); lines < n && i !== -1; i = code.indexOf('\n', i + 1)) lines += 1;
  return lines >= n;
}

/** Any character trim() would keep (`\s` is its set); a test instead of trim(), which copied the code. */
const NOT_BLANK = /\S/;

/**
 * A line diff (Myers) costs about (lines of both) × (lines changed) comparisons, unbounded by
 * anything else at ingest: two unrelated 10,000-line functions took 66 s, and a longer line of
 * JSONL far more. Past this many comparisons the two versions are taken as unrelated. The bound
 * depends on the input alone, so a record normalizes the same on every machine.
 */
export const DIFF_COMPARISONS = 20_000_000;

/**
 * Changed lines by diffing the two functions line by line; when the versions differ too much to be
 * paired within {@link DIFF_COMPARISONS}, every line of both is changed (nothing is in common).
 */
export function diffChangedLines(before: string, after: string): ChangedLines {
  const deleted: number[] = [];
  const added: number[] = [];
  let beforeLine = 1;
  let afterLine = 1;
  // A missing final newline on one side would make its last line look changed.
  const withEol = (s: string): string => (s.endsWith('\n') ? s : `${s}\n`);
  const lines = (s: string): number => lineCount(s) - (s.endsWith('\n') ? 1 : 0);
  const size = lines(before) + lines(after);
  const parts = diffLines(withEol(before), withEol(after), { maxEditLength: Math.max(1, Math.floor(DIFF_COMPARISONS / size)) });
  if (!parts) {
    const all = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);
    return { deleted: all(lines(before)), added: all(lines(after)), source: 'diff' };
  }
  for (const part of parts) {
    const n = part.count ?? lineCount(part.value.replace(/\n$/, ''));
    for (let i = 0; i < n; i += 1) {
      if (part.removed) deleted.push(beforeLine + i);
      else if (part.added) added.push(afterLine + i);
    }
    if (!part.added) beforeLine += n;
    if (!part.removed) afterLine += n;
  }
  return { deleted, added, source: 'diff' };
}

/** The dataset's own changed lines when they fit the functions, else a diff. */
function resolveChangedLines(before: string, after: string, given: { deleted: number[]; added: number[] } | undefined): ChangedLines {
  if (given && given.deleted.length + given.added.length > 0) {
    // A loop, not Math.max(...xs): a line of JSONL may list more numbers than a call takes arguments.
    const highest = (xs: number[]): number => xs.reduce((m, x) => (x > m ? x : m), 0);
    const fits = hasLines(before, highest(given.deleted)) && hasLines(after, highest(given.added));
    if (fits) {
      const uniqSorted = (xs: number[]) => [...new Set(xs)].sort((a, b) => a - b);
      return { deleted: uniqSorted(given.deleted), added: uniqSorted(given.added), source: 'dataset' };
    }
  }
  return diffChangedLines(before, after);
}

const excerpt = (s: string, max = 80): string => (s.length > max ? `${s.slice(0, max)}…` : s);

interface CommonFields {
  language: Language | undefined;
  languageField: string;
  languageValue: string;
  cweRaw: unknown;
  cweField: string;
  before: string;
  beforeField: string;
  after: string;
  afterField: string;
  changedLines?: { deleted: number[]; added: number[] };
  extra: Pick<FixRecord, 'functionName' | 'filePath' | 'description' | 'commitMessage' | 'sourceUrl'>;
}

function build(fields: CommonFields, origin: RecordOrigin): NormalizeResult {
  const cwe = parseCweId(fields.cweRaw);
  if (!cwe) {
    return { ok: false, problem: { code: 'malformed_cwe', field: fields.cweField, value: excerpt(String(fields.cweRaw)), message: 'expected a CWE id such as "CWE-89", "cwe-089" or 89' } };
  }
  if (!fields.language) {
    return {
      ok: false,
      problem: {
        code: 'unknown_language',
        field: fields.languageField,
        value: excerpt(fields.languageValue),
        message: 'cannot tell the language: use a known file extension or set "language" (c, cpp, python, javascript, typescript, java, go, ruby, …)',
      },
    };
  }
  const before = normalizeLineEndings(fields.before);
  const after = normalizeLineEndings(fields.after);
  if (!NOT_BLANK.test(before)) return { ok: false, problem: { code: 'empty_code', field: fields.beforeField, message: 'the vulnerable function is empty' } };
  if (!NOT_BLANK.test(after)) return { ok: false, problem: { code: 'empty_code', field: fields.afterField, message: 'the fixed function is empty' } };
  if (before === after) {
    return { ok: false, problem: { code: 'identical_before_after', field: `${fields.beforeField},${fields.afterField}`, message: 'before and after are identical, so the record shows no fix' } };
  }
  const record: FixRecord = {
    id: fixRecordId(fields.language, cwe, before, after),
    language: fields.language,
    cwe,
    before,
    after,
    changedLines: resolveChangedLines(before, after, fields.changedLines),
    origin,
  };
  for (const [k, v] of Object.entries(fields.extra) as [keyof CommonFields['extra'], string | undefined][]) {
    if (v !== undefined && v.trim() !== '') record[k] = normalizeLineEndings(v).trim();
  }
  return { ok: true, record };
}

/** Normalizes a SVEN or SafeCoder record. */
export function normalizeSvenRecord(raw: SvenRecord, origin: RecordOrigin): NormalizeResult {
  const lc = raw.line_changes;
  return build(
    {
      language: languageFromFileName(raw.file_name),
      languageField: 'file_name',
      languageValue: raw.file_name,
      cweRaw: raw.vul_type,
      cweField: 'vul_type',
      before: raw.func_src_before,
      beforeField: 'func_src_before',
      after: raw.func_src_after,
      afterField: 'func_src_after',
      changedLines: lc ? { deleted: lc.deleted.map((c) => c.line_no), added: lc.added.map((c) => c.line_no) } : undefined,
      extra: {
        functionName: raw.func_name,
        filePath: raw.file_name,
        description: raw.description,
        commitMessage: raw.commit_msg,
        sourceUrl: raw.commit_link ? (/^[a-z]+:\/\//i.test(raw.commit_link) ? raw.commit_link : `https://${raw.commit_link}`) : undefined,
      },
    },
    origin,
  );
}

/** Normalizes a record in the generic schema. */
export function normalizeGenericRecord(raw: GenericRecord, origin: RecordOrigin): NormalizeResult {
  const language = raw.language !== undefined ? normalizeLanguageName(raw.language) : raw.file_name ? languageFromFileName(raw.file_name) : undefined;
  return build(
    {
      language,
      languageField: raw.language !== undefined ? 'language' : 'file_name',
      languageValue: raw.language ?? raw.file_name ?? '(missing: set "language" or "file_name")',
      cweRaw: raw.cwe,
      cweField: 'cwe',
      before: raw.before,
      beforeField: 'before',
      after: raw.after,
      afterField: 'after',
      changedLines: raw.changed_lines,
      extra: {
        functionName: raw.function_name,
        filePath: raw.file_name,
        description: raw.description,
        commitMessage: raw.commit_message,
        sourceUrl: raw.source_url,
      },
    },
    origin,
  );
}
