import { textSlices } from '../src/text-slices';

describe('textSlices', () => {
  it('cuts a text into slices of at most the size asked, never between the halves of a surrogate pair, whose UTF-8 is the whole text’s', () => {
    const texts = ['', 'abc', '😀'.repeat(10), `a${'😀'.repeat(9)}`, `x\uD800y\uDC00`, '\uDBFF', `${'é'.repeat(7)}😀\uD800`];
    for (const text of texts)
      for (const max of [1, 2, 3, 4, 7]) {
        const slices = [...textSlices(text, max)];
        expect(slices.join('')).toBe(text);
        expect(slices.every((s) => s.length >= 1 && s.length <= Math.max(2, max))).toBe(true);
        // No slice ends with the high half of a pair whose low half starts the next one.
        slices.slice(0, -1).forEach((s, i) => expect(/[\uD800-\uDBFF]$/.test(s) && /^[\uDC00-\uDFFF]/.test(slices[i + 1])).toBe(false));
        expect(Buffer.concat(slices.map((s) => Buffer.from(s, 'utf8'))).equals(Buffer.from(text, 'utf8'))).toBe(true);
      }
  });
});
