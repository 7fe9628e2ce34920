/*
 * Characters that change what a reader (or a model) sees without showing themselves: the raw
 * material of "ASCII smuggling" and Trojan-Source attacks. A person reviewing a fix in a terminal
 * or a diff sees nothing; a tokenizer sees every one. Each class below is one reason a record is
 * quarantined, and the prompt sanitizer strips all of them from retrieved text.
 */

/** Why a character is hidden, as the quarantine report names it. */
export type HiddenCharClass = 'bidi-control' | 'zero-width' | 'tag-character' | 'variation-selector' | 'control-character' | 'filler';

/** Why a code point is hidden, or undefined for one that shows. */
export function hiddenCharClass(cp: number): HiddenCharClass | undefined {
  // Explicit directional embeddings, overrides and isolates, and the implicit marks: they reorder
  // what is displayed, so `if (admin) /* … */` can read differently from how it parses.
  if ((cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) || cp === 0x200e || cp === 0x200f || cp === 0x061c) return 'bidi-control';
  // Zero-width characters and invisible operators split a word so a keyword filter misses it, or
  // carry bits between visible letters.
  if (cp === 0x200b || cp === 0x200c || cp === 0x200d || (cp >= 0x2060 && cp <= 0x2064) || cp === 0xfeff || cp === 0x180e || cp === 0x034f || cp === 0x00ad) return 'zero-width';
  // The tag block mirrors ASCII invisibly: a whole instruction can hide after one visible word.
  if (cp >= 0xe0000 && cp <= 0xe007f) return 'tag-character';
  // The supplementary variation selectors have no legitimate use in code or English prose and
  // can encode a byte each; the basic ones (FE00–FE0F) style emoji and are left alone.
  if (cp >= 0xe0100 && cp <= 0xe01ef) return 'variation-selector';
  // Hangul fillers render as blank yet count as letters: invisible identifiers.
  if (cp === 0x115f || cp === 0x1160 || cp === 0x3164 || cp === 0xffa0) return 'filler';
  // C0 controls other than tab, newline, carriage return and form feed (old C sources use form
  // feeds as page breaks), DEL and the C1 block.
  if ((cp < 0x20 && cp !== 0x09 && cp !== 0x0a && cp !== 0x0d && cp !== 0x0c) || (cp >= 0x7f && cp <= 0x9f)) return 'control-character';
  return undefined;
}

/** The code points {@link hiddenCharClass} names, as inclusive ranges. */
const HIDDEN_RANGES: readonly [number, number][] = [
  [0x00, 0x08],
  [0x0b, 0x0b],
  [0x0e, 0x1f],
  [0x7f, 0x9f],
  [0xad, 0xad],
  [0x34f, 0x34f],
  [0x61c, 0x61c],
  [0x115f, 0x1160],
  [0x180e, 0x180e],
  [0x200b, 0x200f],
  [0x202a, 0x202e],
  [0x2060, 0x2064],
  [0x2066, 0x2069],
  [0x3164, 0x3164],
  [0xfeff, 0xfeff],
  [0xffa0, 0xffa0],
  [0xe0000, 0xe007f],
  [0xe0100, 0xe01ef],
];
const codePointEscape = (cp: number): string => `\\u{${cp.toString(16)}}`;
/**
 * Every code point {@link hiddenCharClass} names, as one character class: a text without any
 * (nearly every text) is told so by one native scan instead of a call per character (the screen
 * spent a tenth of its time walking clean code here). screening.spec checks it on every code point.
 */
export const HIDDEN_CHAR_CLASS = new RegExp(`[${HIDDEN_RANGES.map(([from, to]) => (from === to ? codePointEscape(from) : `${codePointEscape(from)}-${codePointEscape(to)}`)).join('')}]`, 'u');

/** One hidden character, with its UTF-16 offset in the text. */
export interface HiddenChar {
  index: number;
  codePoint: number;
  kind: HiddenCharClass;
}

const isAsciiWordish = (ch: string | undefined): boolean => ch === undefined || (ch.codePointAt(0) as number) <= 0x7f;

/**
 * The hidden characters of a text. Zero-width joiners and non-joiners are legitimate between
 * letters of scripts that need them (Persian, the Indic scripts) and inside emoji sequences, so
 * they count only when a neighbour is ASCII (or the text's edge), where they have no such use.
 * A byte-order mark at the very start is an encoding artefact, not content.
 */
export function findHiddenCharacters(text: string): HiddenChar[] {
  if (!HIDDEN_CHAR_CLASS.test(text)) return [];
  const out: HiddenChar[] = [];
  let i = 0;
  for (const ch of text) {
    const cp = ch.codePointAt(0) as number;
    const kind = hiddenCharClass(cp);
    if (kind && !(cp === 0xfeff && i === 0)) {
      const joiner = cp === 0x200c || cp === 0x200d;
      if (!joiner || isAsciiWordish(text[i - 1]) || isAsciiWordish(text[i + 1])) out.push({ index: i, codePoint: cp, kind });
    }
    i += ch.length;
  }
  return out;
}

/**
 * The text without any hidden character of {@link findHiddenCharacters}'s classes (joiners too:
 * retrieved text loses nothing a model needs by losing them). Tabs, newlines and form feeds stay.
 */
export function stripHiddenCharacters(text: string): string {
  if (!HIDDEN_CHAR_CLASS.test(text)) return text;
  let out = '';
  let changed = false;
  for (const ch of text) {
    if (hiddenCharClass(ch.codePointAt(0) as number) !== undefined) {
      changed = true;
      continue;
    }
    out += ch;
  }
  return changed ? out : text;
}

/** A code point as people write it in reports: `U+202E`. */
export const codePointName = (cp: number): string => `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;

/**
 * Latin look-alikes from Cyrillic, Greek and a few Latin extensions: the letters an attacker swaps
 * into "ignоre" so that a plain keyword match fails while a model reads the word as usual. Our own
 * short table of the shapes that are near-identical in common fonts; NFKC already folds
 * full-width and mathematical letters.
 */
const LOOKALIKES: Record<string, string> = {
  // Cyrillic lowercase
  а: 'a',
  в: 'b',
  е: 'e',
  ё: 'e',
  к: 'k',
  м: 'm',
  н: 'h',
  о: 'o',
  р: 'p',
  с: 'c',
  т: 't',
  у: 'y',
  х: 'x',
  ѕ: 's',
  і: 'i',
  ї: 'i',
  ј: 'j',
  һ: 'h',
  ԁ: 'd',
  ԛ: 'q',
  ԝ: 'w',
  ү: 'y',
  ɡ: 'g',
  // Cyrillic uppercase
  А: 'A',
  В: 'B',
  Е: 'E',
  К: 'K',
  М: 'M',
  Н: 'H',
  О: 'O',
  Р: 'P',
  С: 'C',
  Т: 'T',
  Х: 'X',
  У: 'Y',
  І: 'I',
  Ј: 'J',
  Ѕ: 'S',
  Ԛ: 'Q',
  Ԝ: 'W',
  // Greek
  α: 'a',
  ο: 'o',
  ν: 'v',
  ι: 'i',
  κ: 'k',
  ρ: 'p',
  τ: 't',
  υ: 'u',
  χ: 'x',
  ε: 'e',
  Α: 'A',
  Β: 'B',
  Ε: 'E',
  Ζ: 'Z',
  Η: 'H',
  Ι: 'I',
  Κ: 'K',
  Μ: 'M',
  Ν: 'N',
  Ο: 'O',
  Ρ: 'P',
  Τ: 'T',
  Υ: 'Y',
  Χ: 'X',
  // Latin extensions and letterlike symbols that read as ASCII letters
  ı: 'i',
  ȷ: 'j',
  ℓ: 'l',
  ǀ: 'l',
  // Armenian
  օ: 'o',
  ո: 'n',
  ս: 'u',
  հ: 'h',
  ց: 'g',
};
const LOOKALIKE_RE = new RegExp(`[${Object.keys(LOOKALIKES).join('')}]`, 'gu');
/** The same class without the global flag, for tests: a global regex's `test` moves its `lastIndex`. */
const HAS_LOOKALIKE = new RegExp(LOOKALIKE_RE.source, 'u');

/**
 * The form screen patterns are matched against: NFKC (full-width and styled letters become
 * ASCII), hidden characters removed (so "ig\u200Bnore" is "ignore"), look-alikes folded to Latin,
 * lowercase. Only for matching: retrieved text is never rewritten this way.
 */
export function foldForMatching(text: string): string {
  return foldLookalikes(visibleForm(text)).toLowerCase();
}

/** NFKC with hidden characters removed: the first steps of {@link foldForMatching}, before look-alikes are folded. */
export function visibleForm(text: string): string {
  return stripHiddenCharacters(text.normalize('NFKC'));
}

/** Look-alike letters replaced by the Latin ones they imitate (the text itself when it has none). */
export function foldLookalikes(text: string): string {
  return text.replace(LOOKALIKE_RE, (c) => LOOKALIKES[c] ?? c);
}

/** A word mixing Latin with look-alike letters of another script, as found in a text. */
export interface MixedScriptWord {
  word: string;
  index: number;
}

/**
 * Words that mix Latin letters with Cyrillic, Greek or Armenian look-alikes ("systеm" with a
 * Cyrillic е): no natural language writes them, and they are how keywords are hidden from
 * filters. Words wholly in one script (Russian comments, Greek maths) are not flagged.
 */
export function findMixedScriptWords(text: string): MixedScriptWord[] {
  const out: MixedScriptWord[] = [];
  const nfkc = text.normalize('NFKC');
  // A word is flagged only for a look-alike letter in it: a text with none has no such word.
  if (!HAS_LOOKALIKE.test(nfkc)) return out;
  for (const m of nfkc.matchAll(/[\p{L}\p{M}]{3,}/gu)) {
    const word = m[0];
    if (!/[A-Za-z]/.test(word)) continue;
    if (!HAS_LOOKALIKE.test(word)) continue;
    // Mixed only when the Latin part and the look-alike part are both letters of the same word:
    // a Latin word next to a fully Cyrillic one is two words and never gets here.
    out.push({ word, index: m.index ?? 0 });
  }
  return out;
}
