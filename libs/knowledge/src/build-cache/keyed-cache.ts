import { type Hash, createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { sha256Hex, updateWithText } from '@rescue/domain';
import { writePiecesAtomic } from './json-pieces';

/*
 * A build's memo of pure results keyed by content (a screen verdict, a text's search terms), kept
 * in one file under the KB folder's `cache/` between builds. What it must never do is hand back a
 * wrong answer, so:
 * - the file starts with the version of whatever computes the values (the screen's rules, the
 *   analyzer's version): another version and the whole file is ignored;
 * - every entry is one line carrying a checksum of its own bytes, checked before the line is
 *   parsed, and its value is checked against the caller's shape: a line that fails either
 *   (truncated, edited, half-written) is skipped and its value computed again;
 * - it is rewritten whole (atomically: a temporary file, then a rename), sorted by key, holding only the entries
 *   this process used: the same build twice leaves the same file, and entries of records no build
 *   reads any more are dropped rather than kept for ever.
 * Several processes writing the same file (queue workers) lose each other's entries, never corrupt
 * them: the cost is a recomputation.
 */

const FORMAT = 'rescue-keyed-cache-1';

/** A line's checksum: the first 16 hex digits of sha256 over the key and the value's JSON. */
function checksumOf(key: string, json: string): string {
  return createHash('sha256').update(key).update('\t').update(json).digest('hex').slice(0, 16);
}

/** Characters up to which a key's bytes are hashed in one call (see contentKey). */
const ONE_CALL_MAX_CHARS = 1 << 20;

/** sha256 (hex) of values joined unambiguously: what callers key entries by. */
export function contentKey(parts: readonly unknown[]): string {
  // Each part's text made once: its JSON (a long array's is hashed item by item instead, below).
  // A key past one call's size once made its parts' JSON twice (the catalogue's 3.4 MB of it, a
  // build's digest of its catalogue, took 45–60 ms).
  const texts = parts.map((p) => (Array.isArray(p) && p.length > WHOLE_JSON_MAX_ITEMS ? undefined : typeof p === 'string' ? p : (JSON.stringify(p) ?? 'undefined')));
  const prefix = (p: unknown, text: string): string => `${typeof p === 'string' ? 's' : 'j'}${text.length}:`;
  // Most keys are small (a text's screen verdict, a catalogue summary's inputs): their bytes, the
  // same ones hashed below, are hashed in one call, without a Hash object and two updates a part
  // (a build asks for tens of thousands). The digest is the same.
  if (texts.every((t) => t !== undefined) && texts.reduce((n, t) => n + (t as string).length, 0) <= ONE_CALL_MAX_CHARS) {
    let joined = '';
    parts.forEach((p, i) => (joined += `${prefix(p, texts[i] as string)}${texts[i] as string}`));
    return sha256Hex(joined);
  }
  const h = createHash('sha256');
  parts.forEach((p, i) => {
    const text = texts[i];
    if (text === undefined) {
      hashJsonArray(h, p as unknown[]);
      return;
    }
    // Length-prefixed, so ["ab","c"] and ["a","bc"] differ.
    updateWithText(h.update(prefix(p, text)), text);
  });
  return h.digest('hex');
}

/**
 * An array whose items are read when hashed, for {@link contentKeyStreamed}: its JSON's length
 * (what JSON.stringify of the whole array would give) and the items, in order, as often as asked.
 */
export class StreamedJsonArray {
  constructor(
    readonly jsonLength: number,
    readonly items: () => AsyncIterable<unknown>,
  ) {}
}

/**
 * {@link contentKey} of parts some of which are arrays read item by item ({@link StreamedJsonArray}):
 * the same key as contentKey of the parts with those arrays held whole (the same bytes are hashed:
 * `j<length>:` and the array's JSON), for a cluster too big to hold its records and slices at once.
 */
export async function contentKeyStreamed(parts: readonly unknown[]): Promise<string> {
  const h = createHash('sha256');
  for (const p of parts) {
    if (!(p instanceof StreamedJsonArray)) {
      if (Array.isArray(p) && p.length > WHOLE_JSON_MAX_ITEMS) hashJsonArray(h, p);
      else {
        const text = typeof p === 'string' ? p : (JSON.stringify(p) ?? 'undefined');
        h.update(`${typeof p === 'string' ? 's' : 'j'}${text.length}:`).update(text);
      }
      continue;
    }
    h.update(`j${p.jsonLength}:[`);
    let first = true;
    for await (const item of p.items()) {
      h.update(`${first ? '' : ','}${JSON.stringify(item) ?? 'null'}`);
      first = false;
    }
    h.update(']');
  }
  return h.digest('hex');
}

/** Arrays up to this many items are hashed as one JSON string (once, faster than item by item twice). */
const WHOLE_JSON_MAX_ITEMS = 1000;

/**
 * What `contentKey` hashes for a long array (`j<length>:` and its JSON), its items' JSON made one at a
 * time (twice: the length comes first), never the array's as one string: a cluster's records and
 * slices at 100× the shared data are hundreds of MB of JSON, which as one string (or two, UTF-16)
 * was the summarize stage's biggest moment. The bytes hashed are the same: JSON.stringify of an
 * array is its items' (null for undefined) between brackets, joined by commas.
 */
function hashJsonArray(h: Hash, items: readonly unknown[]): void {
  const itemJson = (item: unknown): string => JSON.stringify(item) ?? 'null';
  let length = 2 + Math.max(0, items.length - 1);
  for (let i = 0; i < items.length; i += 1) length += itemJson(items[i]).length;
  h.update(`j${length}:[`);
  for (let i = 0; i < items.length; i += 1) h.update(i === 0 ? itemJson(items[i]) : `,${itemJson(items[i])}`);
  h.update(']');
}

export interface KeyedCacheStats {
  /** Entries read from the file and kept. */
  loaded: number;
  /** Lines of the file that were skipped (bad checksum, unparsable, wrong shape). */
  ignored: number;
  hits: number;
  misses: number;
}

export class KeyedCache<V> {
  private readonly used = new Map<string, V>();
  private dirty = false;
  readonly stats: KeyedCacheStats = { loaded: 0, ignored: 0, hits: 0, misses: 0 };

  private constructor(
    readonly file: string,
    private readonly version: string,
    private readonly loaded: Map<string, string>,
    private readonly isValue: (v: unknown) => v is V,
  ) {}

  /**
   * The cache in `file` for values computed by `version`. A missing file, another version or an
   * unreadable header is an empty cache; a bad line is skipped (see the file comment).
   */
  static async open<V>(file: string, version: string, isValue: (v: unknown) => v is V): Promise<KeyedCache<V>> {
    let text = '';
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      // No file yet: the first build into this folder. Anything else is real.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const lines = text.split('\n');
    const loaded = new Map<string, string>();
    let ignored = 0;
    if (lines[0] === JSON.stringify({ format: FORMAT, version })) {
      for (const line of lines.slice(1)) {
        if (line === '') continue;
        const [sum, key, json] = line.split('\t', 3);
        if (json === undefined || checksumOf(key, json) !== sum) ignored += 1;
        // Kept as text: parsed (and shape-checked) only when asked for.
        else loaded.set(key, json);
      }
    } else if (text !== '') {
      ignored = lines.filter((l) => l !== '').length;
    }
    const cache = new KeyedCache<V>(file, version, loaded, isValue);
    cache.stats.loaded = loaded.size;
    cache.stats.ignored = ignored;
    return cache;
  }

  /** The value under `key`, computed (and remembered) when absent or not trustworthy. */
  get(key: string, compute: () => V): V {
    const seen = this.used.get(key);
    if (seen !== undefined) {
      this.stats.hits += 1;
      return seen;
    }
    const json = this.loaded.get(key);
    if (json !== undefined) {
      let value: unknown;
      try {
        value = JSON.parse(json);
      } catch (_unparsable) {
        // Checksummed text that does not parse was written wrong: recomputed below.
        value = undefined;
      }
      if (value !== undefined && this.isValue(value)) {
        this.stats.hits += 1;
        this.used.set(key, value);
        return value;
      }
      this.stats.ignored += 1;
    }
    this.stats.misses += 1;
    const value = compute();
    this.used.set(key, value);
    this.dirty = true;
    return value;
  }

  /**
   * Writes the entries used since the cache was opened, when they differ from the file's: a new
   * value, or a loaded entry that was not used (dropped).
   */
  async flush(): Promise<void> {
    const unchanged = !this.dirty && this.stats.ignored === 0 && [...this.loaded.keys()].every((k) => this.used.has(k));
    if (unchanged) return;
    const keys = [...this.used.keys()].sort();
    const { used, version } = this;
    await mkdir(dirname(this.file), { recursive: true });
    // Written a line at a time (atomically, as write-file-atomic writes): a big cluster's memo
    // holds every example's search terms (tens of thousands at 100× the shared data), which as one
    // string, its lines and its UTF-8 bytes were three more copies of them at once.
    await writePiecesAtomic(
      this.file,
      (function* () {
        yield `${JSON.stringify({ format: FORMAT, version })}\n`;
        for (const key of keys) {
          const json = JSON.stringify(used.get(key));
          yield `${checksumOf(key, json)}\t${key}\t${json}\n`;
        }
      })(),
      // Every line checks its own checksum when read: a file a crash cut short loses those lines only.
      { durable: false },
    );
    // What the file holds now is what `used` holds: nothing loaded is left to compare it with
    // (a copy of every entry's JSON kept here was as big as the memo).
    this.loaded.clear();
    this.stats.ignored = 0;
    this.dirty = false;
  }
}
