import * as zlib from 'node:zlib';

/**
 * The framing of the folder record store's segment files (see FsRecordStore). A segment is a run
 * of entries, each
 *
 *     <id> <payload length> <payload CRC-32, 8 hex>\n<payload bytes>\n
 *
 * The header is text so that a segment can be read with `less`; the length lets a payload hold
 * any bytes (a damaged document copied from the old one-file layout keeps its exact bytes, so it
 * is still named as corrupt); the CRC tells a write cut short or a damaged block from a sound
 * entry. Entries are only ever appended, and the latest entry of an id is its value.
 */

const HEADER = /^([0-9a-f]{32}) (\d{1,10}) ([0-9a-f]{8})$/;
/** The longest header line: 32 + 1 + 10 + 1 + 8, plus slack. */
const MAX_HEADER = 64;
const NEWLINE = 0x0a;

const SEGMENT_NAME = /^segment-(\d{6,})\.log$/;

export function segmentName(n: number): string {
  return `segment-${String(n).padStart(6, '0')}.log`;
}

/** The number of a segment file, or undefined for any other name. */
export function segmentNumber(name: string): number | undefined {
  const m = SEGMENT_NAME.exec(name);
  return m ? Number(m[1]) : undefined;
}

let table: Int32Array | undefined;

/**
 * CRC-32 (the zlib polynomial). Node has it built in from 20.15; the table version gives the same
 * numbers on the 20.11–20.14 our engines range still allows, so a segment reads the same on both.
 */
export function crc32(data: Uint8Array): number {
  const native = (zlib as { crc32?: (d: Uint8Array) => number }).crc32;
  if (native) return native(data);
  if (!table) {
    table = new Int32Array(256);
    for (let n = 0; n < 256; n += 1) {
      let c = n;
      for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c;
    }
  }
  let crc = -1;
  for (let i = 0; i < data.length; i += 1) crc = table[(crc ^ data[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ -1) >>> 0;
}

export function encodeEntry(id: string, payload: Buffer): Buffer {
  const header = Buffer.from(`${id} ${payload.length} ${crc32(payload).toString(16).padStart(8, '0')}\n`, 'latin1');
  return Buffer.concat([header, payload, Buffer.from([NEWLINE])]);
}

/** A sound entry found in a segment: where its payload is (offsets in the file), and its CRC. */
export interface SegmentEntry {
  id: string;
  /** Where the entry (its header) starts. */
  start: number;
  payloadOffset: number;
  length: number;
  crc: number;
  /** Just past the entry's closing newline. */
  end: number;
}

/** Bytes that are no sound entry: a header that names an id whose payload is damaged, or none. */
export interface SegmentDamage {
  /** The id its header names, when the header itself is intact. */
  id?: string;
  start: number;
  end: number;
  problem: string;
}

export interface SegmentScan {
  entries: SegmentEntry[];
  damaged: SegmentDamage[];
  /**
   * Just past the last sound entry that nothing undamaged follows. Bytes from here to the end of
   * what was scanned are an unfinished tail: an append still being written by another process, or
   * one a crash cut short. Only a writer holding the lock may decide it is the latter and cut it.
   */
  end: number;
  /** The id the unfinished tail's header names, when it has one. */
  tailId?: string;
}

type Parsed = { ok: true; entry: SegmentEntry } | { ok: false; id?: string; problem: string };

/** Reads the entry starting at `pos` of `buf` (whose first byte is at file offset `base`). */
function parseAt(buf: Buffer, pos: number, base: number): Parsed {
  const limit = Math.min(buf.length, pos + MAX_HEADER);
  const nl = buf.indexOf(NEWLINE, pos);
  if (nl === -1 || nl >= limit) return { ok: false, problem: 'is no entry header' };
  const m = HEADER.exec(buf.toString('latin1', pos, nl));
  if (!m) return { ok: false, problem: 'is no entry header' };
  const id = m[1];
  const length = Number(m[2]);
  const payloadOffset = nl + 1;
  const end = payloadOffset + length + 1;
  if (end > buf.length) return { ok: false, id, problem: `is cut short (its header announces ${length} bytes)` };
  if (buf[end - 1] !== NEWLINE) return { ok: false, id, problem: 'does not end where its header says' };
  const crc = crc32(buf.subarray(payloadOffset, end - 1));
  if (crc !== parseInt(m[3], 16)) return { ok: false, id, problem: 'fails its checksum (damaged or written only in part)' };
  return { ok: true, entry: { id, start: base + pos, payloadOffset: base + payloadOffset, length, crc, end: base + end } };
}

/** The next position after `from` where a sound entry starts, or -1. */
function resync(buf: Buffer, from: number, base: number): number {
  for (let nl = buf.indexOf(NEWLINE, from); nl !== -1; nl = buf.indexOf(NEWLINE, nl + 1)) {
    if (nl + 1 < buf.length && parseAt(buf, nl + 1, base).ok) return nl + 1;
  }
  return -1;
}

/**
 * Every entry in `buf`, the bytes of a segment from file offset `base` on. Damage in the middle
 * (a bad block) is reported and skipped to the next sound entry; damage with nothing sound after
 * it is the unfinished tail (`end`), which the caller must neither index nor count as read.
 */
export function scanSegment(buf: Buffer, base: number): SegmentScan {
  const entries: SegmentEntry[] = [];
  const damaged: SegmentDamage[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const parsed = parseAt(buf, pos, base);
    if (parsed.ok) {
      entries.push(parsed.entry);
      pos = parsed.entry.end - base;
      continue;
    }
    const next = resync(buf, pos, base);
    if (next === -1) return { entries, damaged, end: base + pos, ...(parsed.id ? { tailId: parsed.id } : {}) };
    damaged.push({ ...(parsed.id ? { id: parsed.id } : {}), start: base + pos, end: base + next, problem: parsed.problem });
    pos = next;
  }
  return { entries, damaged, end: base + pos };
}
