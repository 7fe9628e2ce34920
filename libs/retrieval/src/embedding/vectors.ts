/**
 * Cosine similarity of two vectors of equal length. Returns 0 when either vector is all zeros
 * (the embedders' answer for a text with no usable terms), so such a text matches nothing
 * rather than everything.
 *
 * @throws RangeError when the lengths differ: vectors of different embedders are not comparable.
 */
export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new RangeError(`cosine of vectors of length ${a.length} and ${b.length}`);
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i += 1) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  if (aa === 0 || bb === 0) return 0;
  return ab / Math.sqrt(aa * bb);
}

/**
 * Scales a vector to unit L2 norm, as float32. The norm is taken in double precision; a zero
 * vector stays zero.
 */
export function l2NormalizeToFloat32(v: ArrayLike<number>): Float32Array {
  let sq = 0;
  for (let i = 0; i < v.length; i += 1) sq += v[i] * v[i];
  const out = new Float32Array(v.length);
  if (sq === 0) return out;
  const inv = 1 / Math.sqrt(sq);
  for (let i = 0; i < v.length; i += 1) out[i] = v[i] * inv;
  return out;
}

/** Little-endian base64 of a Float32Array; endianness is fixed so stored models move between machines. */
export function float32ToBase64(values: Float32Array): string {
  const bytes = Buffer.alloc(values.length * 4);
  for (let i = 0; i < values.length; i += 1) bytes.writeFloatLE(values[i], i * 4);
  return bytes.toString('base64');
}

/**
 * Inverse of {@link float32ToBase64}.
 *
 * @throws RangeError when the decoded byte count is not a multiple of 4, or differs from
 * `expectedLength` × 4 when given.
 */
export function float32FromBase64(text: string, expectedLength?: number): Float32Array {
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length % 4 !== 0) throw new RangeError(`base64 float32 data has ${bytes.length} bytes, not a multiple of 4`);
  const n = bytes.length / 4;
  if (expectedLength !== undefined && n !== expectedLength) {
    throw new RangeError(`base64 float32 data has ${n} values, expected ${expectedLength}`);
  }
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 1) out[i] = bytes.readFloatLE(i * 4);
  return out;
}
