import stem from 'wink-porter2-stemmer';
import { DEFAULT_STOP_WORDS, tokenize } from '../embedding/text-tokens';

/**
 * Bumped whenever {@link searchTerms} changes its output for some input: the KB stores text as
 * search terms, so a version indexed with one analyzer must be queried with the same one.
 */
export const SEARCH_TERMS_VERSION = 1;

/**
 * Words that carry no weakness in a coding task: English function words, and the words every
 * task and code sample shares ("function", "return", "value", "code", "write", "following"). IDF
 * discounts them too, but in a 300-word code prefix they still add up to more than the one word
 * that matters.
 */
const SEARCH_STOP_WORDS: readonly string[] = Object.freeze([
  ...DEFAULT_STOP_WORDS,
  ...'about all also any each every given just more most not no only other over same some than then under up very via per use used uses using one two first second third new make makes made take takes create creates write writes generate generates following function functions method methods code program return returns returned value values def var let const self this null none true false int void str string char'.split(
    ' ',
  ),
]);

/**
 * The terms BM25 sees, for documents and queries alike, on every backend (LanceDB and
 * Elasticsearch index them as given, split on whitespace): identifiers split into their words
 * and kept joined too (`get_target_for_redirect` → get, target, redirect, gettargetforredirect),
 * lowercased, stop words and bare numbers dropped, English words stemmed (Porter2), so a task's
 * "redirects" finds a catalogue's "redirection" and a fix's `redirect_url`.
 */
export function searchTerms(text: string): string[] {
  const out: string[] = [];
  // A plural acronym is one word ("URLs", "APIs"), not an acronym and a word ("UR", "Ls").
  const singular = text.replace(/\b([A-Z]{2,})s\b/g, '$1');
  for (const token of tokenize(singular, { keepJoined: true, stopWords: SEARCH_STOP_WORDS })) {
    if (/^\d+$/.test(token)) continue;
    out.push(stemOf(token));
  }
  return out;
}

/** Distinct tokens whose stems are remembered, at most (about 7 MB): the shared fix pairs have 34,000. */
const STEM_MEMO_MAX = 50_000;
const stems = new Map<string, string>();

/**
 * Porter2's stem of a token, remembered: stemming was most of what indexing a fix costs (about
 * 5 ms a record), and code repeats the same few thousand words in every function. The stemmer is
 * a pure function, so remembering changes no output. When the memo is full it starts over, which
 * bounds its memory whatever the corpus (a 100× build's joined identifiers are mostly unique).
 */
function stemOf(token: string): string {
  let s = stems.get(token);
  if (s === undefined) {
    if (stems.size >= STEM_MEMO_MAX) stems.clear();
    s = stem(token);
    stems.set(token, s);
  }
  return s;
}

/** {@link searchTerms} as one whitespace-separated string, the form the indexes store and search. */
export function searchText(text: string): string {
  return searchTerms(text).join(' ');
}
