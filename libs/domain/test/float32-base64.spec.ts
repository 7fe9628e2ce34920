import { InvalidInputError, float32FromBase64, float32ToBase64 } from '@rescue/domain';

describe('float32 ↔ base64', () => {
  it('round-trips little-endian float32', () => {
    const v = Float32Array.from([1, -0.5, 3.25, 0]);
    const text = float32ToBase64(v);
    expect(text).toBe('AACAPwAAAL8AAFBAAAAAAA==');
    expect(float32FromBase64(text, 'test vector')).toEqual(v);
    expect(float32FromBase64(text, 'test vector', 4)).toEqual(v);
    expect(float32FromBase64('', 'empty')).toEqual(new Float32Array(0));
  });

  it('gives arrays that hold exactly their own values, small or large (a large one is the decoded bytes themselves)', () => {
    for (const n of [3, 100, 20_000]) {
      const v = Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 1000);
      const out = float32FromBase64(float32ToBase64(v), 'vector');
      expect(out).toEqual(v);
      // Never a view into a larger shared buffer (Buffer's pool): its memory is the array's alone.
      expect(out.byteOffset).toBe(0);
      expect(out.buffer.byteLength).toBe(n * 4);
    }
  });

  it('names the data and what is wrong with it', () => {
    expect(() => float32FromBase64('AACAPwAA', 'LSA model idf')).toThrow(InvalidInputError);
    expect(() => float32FromBase64('AACAPwAA', 'LSA model idf')).toThrow('LSA model idf: base64 float32 data has 6 bytes, not a multiple of 4');
    expect(() => float32FromBase64('AACAPw==', 'LSA model idf', 2)).toThrow('LSA model idf: base64 float32 data has 1 values, expected 2');
    expect(() => float32FromBase64('not base64!', 'cached embedding')).toThrow('cached embedding: not base64 ("not base64!")');
  });
});
