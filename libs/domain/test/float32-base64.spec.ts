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

  it('names the data and what is wrong with it', () => {
    expect(() => float32FromBase64('AACAPwAA', 'LSA model idf')).toThrow(InvalidInputError);
    expect(() => float32FromBase64('AACAPwAA', 'LSA model idf')).toThrow('LSA model idf: base64 float32 data has 6 bytes, not a multiple of 4');
    expect(() => float32FromBase64('AACAPw==', 'LSA model idf', 2)).toThrow('LSA model idf: base64 float32 data has 1 values, expected 2');
    expect(() => float32FromBase64('not base64!', 'cached embedding')).toThrow('cached embedding: not base64 ("not base64!")');
  });
});
