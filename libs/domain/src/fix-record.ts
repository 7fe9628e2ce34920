import type { CweId } from './cwe';
import type { Language } from './language';

/** Where the changed lines of a record came from: the dataset's own annotation, or our diff. */
export type ChangedLinesSource = 'dataset' | 'diff';

/** 1-based line numbers: `deleted` in the vulnerable function, `added` in the fixed one. */
export interface ChangedLines {
  deleted: number[];
  added: number[];
  source: ChangedLinesSource;
}

/** Where a record came from: a fix-pair dataset format, or a knowledge source read into fix pairs. */
export type DatasetFormat = 'sven' | 'safecoder' | 'generic' | 'codeql' | 'cwe-catalog';

/**
 * How far a source's text may be believed (OWASP LLM04, data poisoning). Every source is screened
 * either way; only a `trusted` source's free text (commit messages, descriptions, advice) may be
 * quoted verbatim into the KB's guidelines and causes.
 */
export type SourceTrust = 'trusted' | 'untrusted';

/** Where a record was read: enough to find the line again. */
export interface RecordOrigin {
  file: string;
  line: number;
  format: DatasetFormat;
  /** The trust of its source in the build that read it (absent on records stored before trust existed: untrusted). */
  trust?: SourceTrust;
}

/**
 * One vulnerability-fix pair after normalization. `id` is a hash of the normalized content
 * (language, CWE, before, after), so the same fix read from two files is one record.
 */
export interface FixRecord {
  id: string;
  language: Language;
  cwe: CweId;
  before: string;
  after: string;
  changedLines: ChangedLines;
  functionName?: string;
  filePath?: string;
  description?: string;
  commitMessage?: string;
  sourceUrl?: string;
  origin: RecordOrigin;
}
