// Little-endian float32 ↔ base64: the wire format of OpenAI embeddings, and of cached vectors.

export function float32ToBase64(values: Float32Array): string {
  const buf = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => buf.writeFloatLE(v, i * 4));
  return buf.toString('base64');
}

/** The vector, or an empty one when the byte length is not a multiple of 4. */
export function float32FromBase64(text: string): Float32Array {
  const buf = Buffer.from(text, 'base64');
  if (buf.length % 4 !== 0) return new Float32Array(0);
  const out = new Float32Array(buf.length / 4);
  for (let i = 0; i < out.length; i += 1) out[i] = buf.readFloatLE(i * 4);
  return out;
}
