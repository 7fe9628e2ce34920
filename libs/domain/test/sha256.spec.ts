import { createHash } from 'node:crypto';
import { sha256Bytes, sha256Hex } from '@rescue/domain';

describe('sha256Hex / sha256Bytes', () => {
  it('is the digest of the UTF-8 bytes, as a Hash object gives it (ASCII, non-Latin text, lone surrogates, empty)', () => {
    for (const text of ['', 'select * from t', 'é ✓ 😀 — 中文', 'a\uD800b', '\uDC00', 'x'.repeat(100_000)]) {
      const expected = createHash('sha256').update(text, 'utf8').digest();
      expect(sha256Hex(text)).toBe(expected.toString('hex'));
      expect(sha256Bytes(text).equals(expected)).toBe(true);
    }
  });
});
