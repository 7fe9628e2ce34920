import { InvalidInputError } from './errors';

// Little-endian float32 as base64: the wire format of OpenAI embeddings, of cached vectors and of
// the local embedder's stored model. The byte order is fixed so stored data moves between machines.

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;
/** Whether typed arrays hold numbers least significant byte first (as the stored data does). */
const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

export function float32ToBase64(values: Float32Array): string {
  const bytes = Buffer.alloc(values.length * 4);
  for (let i = 0; i < values.length; i += 1) bytes.writeFloatLE(values[i], i * 4);
  return bytes.toString('base64');
}

/**
 * Inverse of {@link float32ToBase64}. `what` names the data in the error (`"LSA model idf"`), since
 * a bad vector is only ever found far from where it was written.
 *
 * @throws InvalidInputError when the text is not base64, its byte count is not a multiple of 4,
 * or it holds another number of values than `expectedLength` (when given).
 */
export function float32FromBase64(text: string, what: string, expectedLength?: number): Float32Array {
  // Buffer.from skips characters outside the alphabet; refusing them keeps garbage from decoding into a vector.
  if (!BASE64.test(text)) throw new InvalidInputError(`${what}: not base64 (${JSON.stringify(text.slice(0, 40))}${text.length > 40 ? '…' : ''})`);
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length % 4 !== 0) throw new InvalidInputError(`${what}: base64 float32 data has ${bytes.length} bytes, not a multiple of 4`);
  const n = bytes.length / 4;
  if (expectedLength !== undefined && n !== expectedLength) throw new InvalidInputError(`${what}: base64 float32 data has ${n} values, expected ${expectedLength}`);
  // On a little-endian machine the bytes are the array's own. A decoded buffer that owns its whole
  // memory (Buffer.from allocates one for anything but small data) is viewed as floats in place:
  // no second copy of the 9 MB a KB's LSA projection decodes to, read by every cold `rescue
  // retrieve`, where touching fresh memory costs as much as decoding. A small one, a slice of
  // Buffer's shared pool, is copied out (an array must neither pin the pool nor start unaligned).
  if (LITTLE_ENDIAN && bytes.byteOffset === 0 && bytes.buffer.byteLength === bytes.length) return new Float32Array(bytes.buffer, 0, n);
  const out = new Float32Array(n);
  if (LITTLE_ENDIAN) new Uint8Array(out.buffer).set(bytes);
  else for (let i = 0; i < n; i += 1) out[i] = bytes.readFloatLE(i * 4);
  return out;
}
