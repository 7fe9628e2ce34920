import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { dirname } from 'node:path';

/** Why a line (or a whole file) was not kept. Stable strings: they appear in reports. */
export const REJECT_CODES = [
  'unreadable_file',
  'binary_file',
  'line_too_long',
  'invalid_utf8',
  'invalid_json',
  'forbidden_key',
  'too_deep',
  'not_an_object',
  'unknown_format',
  'missing_field',
  'wrong_type',
  'empty_code',
  'identical_before_after',
  'unknown_language',
  'malformed_cwe',
] as const;
export type RejectCode = (typeof REJECT_CODES)[number];

/** One rejected line. `line` is 1-based; 0 means the whole file. `value` is a short excerpt. */
export interface Reject {
  file: string;
  line: number;
  code: RejectCode;
  field?: string;
  value?: string;
  message: string;
}

/** One reject as the single line people read in a terminal. */
export function formatReject(r: Reject): string {
  const where = r.line > 0 ? `${r.file}:${r.line}` : r.file;
  const field = r.field ? ` field ${r.field}` : '';
  const value = r.value !== undefined ? ` (value ${JSON.stringify(r.value)})` : '';
  return `${where}: ${r.code}${field}${value}: ${r.message}`;
}

/** Appends rejects as JSONL; the file exists (possibly empty) once the writer is opened. */
export class RejectsFileWriter {
  private readonly stream: WriteStream;

  constructor(readonly path: string) {
    mkdirSync(dirname(path), { recursive: true });
    this.stream = createWriteStream(path, { flags: 'w' });
  }

  write(reject: Reject): void {
    this.stream.write(`${JSON.stringify(reject)}\n`);
  }

  close(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.stream.once('error', reject);
      this.stream.end(() => resolve());
    });
  }
}
