/**
 * `text` in consecutive slices of at most `maxChars` UTF-16 code units (at least one each), none
 * ending between the two halves of a surrogate pair: each slice's UTF-8 is then exactly its part
 * of the whole text's, so encoding or hashing the slices one after another gives the whole text's
 * bytes, without the whole text's UTF-8 in one large buffer. A lone surrogate stays a character
 * of its own, as it is in the whole.
 */
export function* textSlices(text: string, maxChars: number): Generator<string> {
  const step = Math.max(2, Math.floor(maxChars));
  for (let at = 0; at < text.length;) {
    let end = Math.min(text.length, at + step);
    if (end < text.length && isHighSurrogate(text.charCodeAt(end - 1))) end -= 1;
    yield text.slice(at, end);
    at = end;
  }
}

/** Whether a UTF-16 code unit is the first half of a surrogate pair. */
export const isHighSurrogate = (code: number): boolean => code >= 0xd800 && code <= 0xdbff;
