import { createHash } from 'node:crypto';
import { sha256Bytes, sha256Hex } from '@rescue/domain';

describe('sha256Hex / sha256Bytes', () => {
  it('is the digest of the UTF-8 bytes, as a Hash object gives it (ASCII, non-Latin text, lone surrogates, empty)', () => {
    // Long texts (hashed a slice at a time) with astral characters and lone surrogates across the slices' edges.
    const long = [`${'a'.repeat(65535)}${'😀'.repeat(40000)}\uD800${'b'.repeat(70000)}\uDC00`, `${'é'.repeat(65535)}\uD83D\uDE00`];
    for (const text of ['', 'select * from t', 'é ✓ 😀 — 中文', 'a\uD800b', '\uDC00', 'x'.repeat(100_000), ...long]) {
      const expected = createHash('sha256').update(text, 'utf8').digest();
      expect(sha256Hex(text)).toBe(expected.toString('hex'));
      expect(sha256Bytes(text).equals(expected)).toBe(true);
    }
  });
});
