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
