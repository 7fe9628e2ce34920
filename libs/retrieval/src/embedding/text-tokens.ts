/**
 * Tokenization shared by the local embedders. It has to serve both prose (CWE descriptions,
 * vulnerability-cause paragraphs) and code (draft completions, sliced examples), so identifiers
 * are split into their words: `getHTTPResponse` and `get_http_response` then share `get`, `http`
 * and `response` with a sentence that says "get the HTTP response".
 */

/**
 * Bumped whenever the output of {@link tokenize} changes for some input. Models store it, because
 * a model fitted with one tokenizer gives meaningless vectors when queried through another.
 */
export const TOKENIZER_VERSION = 1;

/**
 * A deliberately small English stop-word list. IDF already discounts frequent words; this list
 * only removes function words that carry no topic, so they cannot crowd short queries. Words that
 * matter in security text ("not", "no", "before", "after", "only") are kept on purpose.
 */
export const DEFAULT_STOP_WORDS: readonly string[] = Object.freeze([
  'a',
  'an',
  'and',
  'are',
  'as',
  'at',
  'be',
  'been',
  'being',
  'but',
  'by',
  'can',
  'could',
  'did',
  'do',
  'does',
  'for',
  'from',
  'had',
  'has',
  'have',
  'he',
  'her',
  'his',
  'how',
  'if',
  'in',
  'into',
  'is',
  'it',
  'its',
  'may',
  'might',
  'of',
  'on',
  'or',
  'our',
  'she',
  'should',
  'so',
  'such',
  'than',
  'that',
  'the',
  'their',
  'them',
  'then',
  'there',
  'these',
  'they',
  'this',
  'those',
  'to',
  'was',
  'we',
  'were',
  'what',
  'when',
  'where',
  'which',
  'while',
  'who',
  'will',
  'with',
  'would',
  'you',
  'your',
]);

/** Options of {@link tokenize}. Every field is JSON-serializable so a model can store them. */
export interface TokenizeOptions {
  /**
   * Also emit a compound identifier's parts joined, lowercased, without separators
   * (`getHTTPResponse` → `gethttpresponse`, `safe_load` → `safeload`, `md5` → `md5`). This keeps
   * exact API names distinguishable (`safe_load` vs `load`) and unifies naming conventions across
   * languages. Default false.
   */
  keepJoined?: boolean;
  /** Words to drop after lowercasing. Default {@link DEFAULT_STOP_WORDS}. */
  stopWords?: readonly string[];
  /** Shorter tokens are dropped. Default 2, which drops single letters and digits. */
  minLength?: number;
  /**
   * Longer tokens are dropped. Default 48: hashes, base64 blobs and minified code produce long
   * unique tokens that only inflate the vocabulary.
   */
  maxLength?: number;
}

/** {@link TokenizeOptions} with every default filled in. */
export type ResolvedTokenizeOptions = Required<TokenizeOptions>;

/** Fills in the defaults of {@link TokenizeOptions}. */
export function resolveTokenizeOptions(options: TokenizeOptions = {}): ResolvedTokenizeOptions {
  return {
    keepJoined: options.keepJoined ?? false,
    stopWords: options.stopWords ?? DEFAULT_STOP_WORDS,
    minLength: options.minLength ?? 2,
    maxLength: options.maxLength ?? 48,
  };
}

// An identifier-like chunk: letters, digits and underscores, optionally joined by single hyphens
// between segments that start with a letter (kebab-case, "user-controlled"). A hyphen before a
// digit is more likely a minus sign (`i-1`), so it ends the chunk.
const CHUNK = /[\p{L}\p{M}_][\p{L}\p{M}\p{N}_]*(?:-[\p{L}\p{M}_][\p{L}\p{M}\p{N}_]*)*|\p{N}[\p{L}\p{M}\p{N}_]*/gu;

// The words inside one separator-free segment. Order matters: an upper-case run followed by a
// capitalised word gives the acronym alone (`HTTPResponse` → `HTTP`, `Response`); a capital may
// open a lower-case word (`Response`); a trailing upper-case run is an acronym (`getURL`); digits
// are their own word (`sha256` → `sha`, `256`); letters without case (CJK, Arabic) stay together.
const WORD = /\p{Lu}+(?=\p{Lu}\p{Ll})|\p{Lu}?[\p{Ll}\p{M}]+|\p{Lu}+|\p{N}+|[\p{L}\p{M}]+/gu;

/**
 * The words of one identifier, lowercased, before any filtering: `getHTTPResponse` → get, http,
 * response; `safe_load` → safe, load; `x-forwarded-for` → x, forwarded, for; `strcpy` → strcpy.
 */
export function splitIdentifier(identifier: string): string[] {
  // Fast path for the common case, a plain lower-case word (most of prose).
  if (/^[a-z]+$/.test(identifier)) return [identifier];
  const words: string[] = [];
  for (const segment of identifier.split(/[_-]+/)) {
    for (const m of segment.matchAll(WORD)) words.push(m[0].toLowerCase());
  }
  return words;
}

const stopWordCache = new WeakMap<readonly string[], ReadonlySet<string>>();

function stopWordSet(words: readonly string[]): ReadonlySet<string> {
  let set = stopWordCache.get(words);
  if (!set) {
    set = new Set(words.map((w) => w.toLowerCase()));
    stopWordCache.set(words, set);
  }
  return set;
}

/**
 * Splits prose or code into lowercased word tokens, in order, with repeats (term frequency is the
 * caller's business). Punctuation, operators and whitespace separate chunks (`yaml.safe_load` →
 * yaml, safe, load; `../etc/passwd` → etc, passwd); each chunk is split by
 * {@link splitIdentifier}; stop words and tokens outside [minLength, maxLength] are dropped. With
 * `keepJoined`, a chunk of several words is also emitted joined, right after its parts.
 */
export function tokenize(text: string, options: TokenizeOptions = {}): string[] {
  const { keepJoined, stopWords, minLength, maxLength } = resolveTokenizeOptions(options);
  const stop = stopWordSet(stopWords);
  const keep = (t: string): boolean => t.length >= minLength && t.length <= maxLength && !stop.has(t);
  const out: string[] = [];
  for (const m of text.matchAll(CHUNK)) {
    const words = splitIdentifier(m[0]);
    for (const w of words) if (keep(w)) out.push(w);
    if (keepJoined && words.length > 1) {
      const joined = words.join('');
      if (keep(joined)) out.push(joined);
    }
  }
  return out;
}
