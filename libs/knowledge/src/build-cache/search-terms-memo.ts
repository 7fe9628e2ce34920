import { readdir, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { sha256Hex } from '@rescue/domain';
import { SEARCH_TERMS_VERSION, searchText } from '@rescue/retrieval';
import { KeyedCache, type KeyedCacheStats } from './keyed-cache';
import { buildCacheDir } from './screen-memo';

/**
 * A text's search terms (searchText) remembered by the text's hash: they depend on the text and the
 * analyzer alone, not on the rest of the KB, and stemming is most of what an example or a CWE's
 * document costs to index.
 */
export interface SearchTermsMemo {
  terms(text: string): string;
  flush(): Promise<void>;
  stats: KeyedCacheStats;
}

// The analyzer's own output on a sentence that exercises it (identifier splitting, stemming, stop
// words, numbers) joins its declared version in the cache's version: a stemmer that changed
// under the same SEARCH_TERMS_VERSION still makes the remembered terms stale.
const PROBE = 'The getUserName() handler validates URL-encoded paths, escaping <script> tags; sanitized 42 inputs via os.path.join and html_escape.';

/** The memo in `file` (one per writer: each summarize job has its cluster's, the index stage its own). */
export async function openSearchTermsMemo(file: string): Promise<SearchTermsMemo> {
  const cache = await KeyedCache.open(file, `search-terms-${SEARCH_TERMS_VERSION}:${searchText(PROBE)}`, (v): v is string => typeof v === 'string');
  return {
    stats: cache.stats,
    terms: (text) => cache.get(sha256Hex(text), () => searchText(text)),
    flush: () => cache.flush(),
  };
}

/** A cluster's memo of its examples' terms, written by that cluster's summarize job alone. */
export const clusterTermsFile = (kbDir: string, clusterKey: string): string => join(buildCacheDir(kbDir), 'terms', `${sha256Hex(clusterKey).slice(0, 32)}.jsonl`);

/** The index stage's memo (CWE documents, catalogue text, nodes). */
export const indexTermsFile = (kbDir: string): string => join(buildCacheDir(kbDir), 'search-terms-index.jsonl');

/** Removes the terms memos of clusters not in `clusterKeys` (clusters a build no longer has). */
export async function retainClusterTerms(kbDir: string, clusterKeys: Iterable<string>): Promise<number> {
  const dir = join(buildCacheDir(kbDir), 'terms');
  const keep = new Set([...clusterKeys].map((k) => basename(clusterTermsFile(kbDir, k))));
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
  // Only finished memos: a writer's temporary file is left to its rename.
  const stale = names.filter((n) => /^[0-9a-f]{32}\.jsonl$/.test(n) && !keep.has(n));
  await Promise.all(stale.map((n) => rm(join(dir, n), { force: true })));
  return stale.length;
}
