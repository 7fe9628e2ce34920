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

/** Where a record was read: enough to find the line again. */
export interface RecordOrigin {
  file: string;
  line: number;
  format: DatasetFormat;
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
