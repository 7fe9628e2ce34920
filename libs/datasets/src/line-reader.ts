import type { FileHandle } from 'node:fs/promises';
import { openRegularFile } from './regular-file';

/** Bytes sniffed at the start of a file to decide whether it is text. */
export const BINARY_SNIFF_BYTES = 64 * 1024;

/**
 * Bytes read from the file at a time. Each read is a round trip through libuv's thread pool: reading
 * kb-source's 9 MB took about 2/3 of the CPU time at 128-256 KiB than at 64 KiB, and more again at
 * 512 KiB-1 MiB (a fresh buffer per read, mostly unused by a smaller file).
 */
export const READ_CHUNK_BYTES = 256 * 1024;

export type RawLine =
  | { lineNo: number; kind: 'text'; text: string; byteLength: number }
  | { lineNo: number; kind: 'too-long'; byteLength: number }
  | { lineNo: number; kind: 'invalid-utf8'; byteOffset: number; byteLength: number };

export interface FileVerdict {
  binary: boolean;
  reason?: string;
}

/** Control characters other than tab, line feed, form feed and carriage return (NUL is tested first). */
// eslint-disable-next-line no-control-regex -- control characters are exactly what it looks for
const CONTROL_BYTE = /[\x01-\x08\x0b\x0e-\x1f]/g;

/**
 * Decides from the first bytes of a file whether it is text: a NUL byte, a gzip or zip signature,
 * or a high share of control characters marks it binary.
 */
export function sniffBinary(head: Buffer): FileVerdict {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return { binary: true, reason: 'gzip data (decompress it first)' };
  if (head.length >= 4 && head.readUInt32BE(0) === 0x504b0304) return { binary: true, reason: 'zip data (extract it first)' };
  const nul = head.indexOf(0);
  if (nul !== -1) return { binary: true, reason: `NUL byte at offset ${nul}` };
  // Counted by a native regex scan over the bytes as Latin-1 (one character per byte): a loop in
  // JS over each byte cost more than reading the file.
  const control = head.toString('latin1').match(CONTROL_BYTE)?.length ?? 0;
  if (head.length > 0 && control / head.length > 0.1) return { binary: true, reason: `${control} control bytes in the first ${head.length}` };
  return { binary: false };
}

/** Offset of the first byte that breaks UTF-8 in `buf`, or -1 when it is valid. */
export function firstInvalidUtf8Offset(buf: Buffer): number {
  let i = 0;
  while (i < buf.length) {
    const b = buf[i];
    let need: number;
    let min: number;
    if (b < 0x80) {
      i += 1;
      continue;
    } else if (b >= 0xc2 && b <= 0xdf) {
      need = 1;
      min = 0x80;
    } else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      min = 0x800;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      min = 0x10000;
    } else return i;
    let cp = b & (0x3f >> need);
    for (let k = 1; k <= need; k += 1) {
      const c = buf[i + k];
      if (c === undefined || (c & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (c & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += need + 1;
  }
  return -1;
}

const decoder = new TextDecoder('utf-8', { fatal: true });
/** Any character trim() would keep: `\s` is the same set of white space and line terminators. */
const NOT_BLANK = /\S/;

export interface ReadLinesOptions {
  /** Lines longer than this (in bytes, without the newline) are reported, not buffered. */
  maxLineBytes: number;
  /** Called once with the verdict on the first 64 KiB; a binary file yields no lines. */
  onVerdict?: (verdict: FileVerdict) => void;
  /** How the path is named in the error when it is not a regular file (`tasks file`); default `file`. */
  what?: string;
  /** Bytes per read; default {@link READ_CHUNK_BYTES}. */
  chunkBytes?: number;
}

/**
 * Streams a file as lines of bytes, without ever holding more than one line (capped at
 * `maxLineBytes`) in memory. Unlike `readline`, it keeps invalid UTF-8 visible (readline would
 * silently substitute U+FFFD) and never buffers a giant line. Handles `\n` and `\r\n`; strips a
 * leading BOM. Blank lines are skipped but counted in line numbers.
 *
 * @throws InvalidInputError, naming the path, when it is not a regular file (a FIFO would block
 *   for ever, /dev/zero never ends, a directory has no lines)
 */
export async function* readLines(path: string, options: ReadLinesOptions): AsyncGenerator<RawLine> {
  const handle = await openRegularFile(path, options.what ?? 'file');
  const chunkBytes = options.chunkBytes ?? READ_CHUNK_BYTES;
  let lineNo = 1;
  let parts: Buffer[] = [];
  let size = 0;
  let overflow = false;

  const append = (piece: Buffer): void => {
    size += piece.length;
    if (overflow) return;
    // One byte of slack for a `\r` that finish() strips; the limit is on the content.
    if (size > options.maxLineBytes + 1) {
      overflow = true;
      parts = [];
      return;
    }
    parts.push(piece);
  };

  const finish = (): RawLine | undefined => {
    const current = lineNo;
    lineNo += 1;
    const byteLength = size;
    const wasOverflow = overflow;
    const collected = parts;
    parts = [];
    size = 0;
    overflow = false;
    if (wasOverflow) return { lineNo: current, kind: 'too-long', byteLength };
    let buf = collected.length === 1 ? collected[0] : Buffer.concat(collected, byteLength);
    if (buf.length > 0 && buf[buf.length - 1] === 0x0d) buf = buf.subarray(0, buf.length - 1);
    if (buf.length > options.maxLineBytes) return { lineNo: current, kind: 'too-long', byteLength: buf.length };
    if (current === 1 && buf.length >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) buf = buf.subarray(3);
    let text: string;
    try {
      text = decoder.decode(buf);
    } catch (err) {
      // By code, not class: the decoder's TypeError may come from another realm (jest's vm).
      if ((err as { code?: unknown }).code !== 'ERR_ENCODING_INVALID_ENCODED_DATA') throw err;
      return { lineNo: current, kind: 'invalid-utf8', byteOffset: Math.max(0, firstInvalidUtf8Offset(buf)), byteLength: buf.length };
    }
    // A test, not trim(): trim() copied every line only to compare the copy with ''.
    if (!NOT_BLANK.test(text)) return undefined;
    return { lineNo: current, kind: 'text', text, byteLength: buf.length };
  };

  function* split(buf: Buffer): Generator<RawLine> {
    let start = 0;
    for (let nl = buf.indexOf(0x0a); nl !== -1; nl = buf.indexOf(0x0a, start)) {
      append(buf.subarray(start, nl));
      const line = finish();
      if (line) yield line;
      start = nl + 1;
    }
    if (start < buf.length) append(buf.subarray(start));
  }

  // The verdict needs the first 64 KiB (or the whole file when shorter) before any line is used.
  let head: Buffer[] | undefined = [];
  let headSize = 0;
  const judge = (data: Buffer): boolean => {
    const verdict = sniffBinary(data.subarray(0, BINARY_SNIFF_BYTES));
    options.onVerdict?.(verdict);
    return verdict.binary;
  };

  // Reads from the handle itself, the next chunk asked for before the lines of this one are handed
  // out, so the disk works while the caller parses. A read stream did the same at about 4× the CPU
  // time of the reads (its buffering and events; bench:ingest, kb-source).
  let pending = readChunk(handle, chunkBytes);
  try {
    for (;;) {
      const chunk = await pending;
      if (chunk.length === 0) break;
      pending = readChunk(handle, chunkBytes);
      if (head) {
        head.push(chunk);
        headSize += chunk.length;
        if (headSize < BINARY_SNIFF_BYTES) continue;
        const data = head.length === 1 ? head[0] : Buffer.concat(head, headSize);
        head = undefined;
        if (judge(data)) return;
        yield* split(data);
      } else {
        yield* split(chunk);
      }
    }
    if (head) {
      const data = Buffer.concat(head, headSize);
      if (judge(data)) return;
      yield* split(data);
    }
    if (size > 0 || overflow) {
      const line = finish();
      if (line) yield line;
    }
  } finally {
    // The handle is closed only once no read is in flight on it (the caller may stop early).
    await pending.catch(() => undefined);
    await handle.close();
  }
}

/**
 * The next bytes of the file (empty at its end), in a buffer of their own: lines keep slices of
 * it. Its failure is thrown where it is awaited; marked handled meanwhile, as it may come while the
 * caller is busy with the lines before it (and once the caller has stopped, it no longer matters).
 */
function readChunk(handle: FileHandle, bytes: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(bytes);
  const read = handle.read(buf, 0, bytes, null).then(({ bytesRead }) => (bytesRead === bytes ? buf : buf.subarray(0, bytesRead)));
  read.catch(() => undefined);
  return read;
}
