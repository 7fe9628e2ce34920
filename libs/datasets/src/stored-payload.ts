/**
 * How the folder store writes a document into a segment entry's payload. A fix record is mostly
 * its two functions; as JSON, every quote, tab and newline of their code is escaped on the way in
 * and unescaped on the way out, and that escaping was a third of an ingest into the folder store
 * (bench:ingest: JSON.stringify of the records cost more than JSON.parse of the input lines). So
 * a document's long top-level strings are written as their own UTF-8 bytes after the rest of it:
 *
 *     #split before:1234 after:1301\n
 *     {"id":"…","language":"c","cwe":"CWE-787","before":0,"after":0,…}\n
 *     <the 1234 bytes of before>\n
 *     <the 1301 bytes of after>\n
 *
 * The JSON line keeps every key in its place (a moved string is a 0 there), so reading it back
 * gives the same object, keys in the same order, as JSON.parse of JSON.stringify would; and the
 * code reads as code with `less`. A document without long strings is plain JSON, as every payload
 * was before this format: readers take both, so a store written earlier reads as it did.
 */

const MARK = '#split ';
const MARK_BYTES = Buffer.from(MARK, 'latin1');
/** Strings shorter than this stay in the JSON: moving them saves less than their header costs. */
const MIN_SPLIT_CHARS = 256;
/** A key that may be moved: a plain identifier, so the header needs no quoting. */
const MOVABLE_KEY = /^[A-Za-z_$][\w$]{0,63}$/;
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const HEADER_PAIR = /^([A-Za-z_$][\w$]{0,63}):(\d{1,10})$/;
const NEWLINE = 0x0a;

/**
 * A string with a lone surrogate half would not survive UTF-8 (each becomes U+FFFD); JSON keeps it
 * as an escape, so such a string stays in the JSON.
 */
const isWellFormed = (s: string): boolean => (s as string & { isWellFormed(): boolean }).isWellFormed();

/** The payload bytes of `doc`; the same document always gives the same bytes. */
export function encodeStoredPayload(doc: object): Buffer {
  const source = doc as Record<string, unknown>;
  let moved: string[] | undefined;
  for (const key of Object.keys(source)) {
    const value = source[key];
    if (typeof value === 'string' && value.length >= MIN_SPLIT_CHARS && MOVABLE_KEY.test(key) && !FORBIDDEN_KEYS.has(key) && isWellFormed(value)) (moved ??= []).push(key);
  }
  if (!moved) return Buffer.from(JSON.stringify(doc));
  const rest: Record<string, unknown> = { ...source };
  for (const key of moved) rest[key] = 0;
  const strings = moved.map((key) => source[key] as string);
  const lengths = strings.map((s) => Buffer.byteLength(s, 'utf8'));
  const head = `${MARK}${moved.map((key, i) => `${key}:${lengths[i]}`).join(' ')}\n${JSON.stringify(rest)}\n`;
  const headBytes = Buffer.byteLength(head, 'utf8');
  const out = Buffer.allocUnsafe(headBytes + lengths.reduce((a, b) => a + b, 0) + moved.length);
  let at = out.write(head, 0, 'utf8');
  for (const s of strings) {
    at += out.write(s, at, 'utf8');
    out[at++] = NEWLINE;
  }
  return out;
}

/**
 * The document a payload holds, as JSON.parse gives it (an object, or whatever value plain JSON
 * holds). Throws an Error saying what is wrong when the bytes are neither plain JSON nor a sound
 * split payload (cut short, a header that does not match the strings after it).
 */
export function decodeStoredPayload(payload: Buffer | string, readStrings = true): unknown {
  if (typeof payload === 'string') payload = Buffer.from(payload, 'utf8');
  if (payload.length < MARK_BYTES.length || !payload.subarray(0, MARK_BYTES.length).equals(MARK_BYTES)) return JSON.parse(payload.toString('utf8'));
  const headerEnd = payload.indexOf(NEWLINE);
  if (headerEnd === -1) throw new Error('split payload has no end to its header line');
  const pairs = payload
    .toString('latin1', MARK_BYTES.length, headerEnd)
    .split(' ')
    .map((pair) => HEADER_PAIR.exec(pair));
  if (pairs.some((m) => m === null)) throw new Error('split payload header is not a list of key:length');
  const jsonEnd = payload.indexOf(NEWLINE, headerEnd + 1);
  if (jsonEnd === -1) throw new Error('split payload has no end to its JSON line');
  const doc: unknown = JSON.parse(payload.toString('utf8', headerEnd + 1, jsonEnd));
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new Error('split payload JSON line is not an object');
  const target = doc as Record<string, unknown>;
  let at = jsonEnd + 1;
  for (const m of pairs as RegExpExecArray[]) {
    const key = m[1];
    const length = Number(m[2]);
    if (FORBIDDEN_KEYS.has(key) || !Object.hasOwn(target, key) || target[key] !== 0) throw new Error(`split payload header names "${key}", which its JSON line does not hold as a moved string`);
    const end = at + length;
    if (end >= payload.length || payload[end] !== NEWLINE) throw new Error(`split payload string "${key}" does not end where its header says`);
    if (readStrings) target[key] = payload.toString('utf8', at, end);
    at = end + 1;
  }
  if (at !== payload.length) throw new Error(`split payload has ${payload.length - at} bytes past its last string`);
  return doc;
}

/**
 * {@link decodeStoredPayload} without its long strings: each moved one stays 0, as the JSON line
 * holds it (the payload is checked alike). What a reader that needs a document's small fields (a
 * record's origin, its CWE) reads without decoding its code; a plain JSON payload is decoded whole.
 */
export function decodeStoredHead(payload: Buffer | string): unknown {
  return decodeStoredPayload(payload, false);
}
