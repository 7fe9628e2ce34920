import type { Embedder, EmbedderDescription } from './embedder';
import { type ResolvedTokenizeOptions, resolveTokenizeOptions, TOKENIZER_VERSION, tokenize, type TokenizeOptions } from './text-tokens';
import { l2NormalizeToFloat32 } from './vectors';

/** Options of {@link HashingEmbedder}. */
export interface HashingEmbedderOptions {
  /** Number of hash buckets = vector length. Default 1024. */
  dimensions?: number;
  /** Hash seed; different seeds give unrelated bucket assignments. Default 0. */
  seed?: number;
  /** Tokenizer settings. Default: {@link tokenize}'s defaults with keepJoined = true. */
  tokenizer?: TokenizeOptions;
}

/** FNV-1a over UTF-16 code units, then the murmur3 finalizer, so the low bits are well mixed for `% dimensions`. */
function hash32(text: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < text.length; i += 1) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * The no-corpus fallback: signed feature hashing (Weinberger et al. 2009) of tokens into
 * `dimensions` buckets with sublinear TF (1 + ln tf), L2-normalized. Needs no fit and no IDF, so
 * it works before a knowledge base exists; but it only sees exact token overlap ("path" and
 * "directory" are unrelated to it), which is what {@link LsaEmbedder} adds once there is a corpus.
 *
 * The random sign makes colliding tokens cancel in expectation instead of adding up, so inner
 * products stay unbiased estimates of the token-space ones. A text with no token gives the zero vector.
 */
export class HashingEmbedder implements Embedder {
  /** Family id in {@link EmbedderDescription.id}. */
  static readonly ID = 'local-hashing';

  readonly id = HashingEmbedder.ID;
  readonly dimensions: number;
  private readonly seed: number;
  private readonly tokenizer: ResolvedTokenizeOptions;

  /** @throws RangeError when dimensions is not a positive integer. */
  constructor(options: HashingEmbedderOptions = {}) {
    const dimensions = options.dimensions ?? 1024;
    if (!Number.isInteger(dimensions) || dimensions < 1) throw new RangeError(`dimensions must be a positive integer, got ${dimensions}`);
    this.dimensions = dimensions;
    this.seed = Math.trunc(options.seed ?? 0) >>> 0;
    this.tokenizer = resolveTokenizeOptions({ keepJoined: true, ...options.tokenizer });
  }

  /** Identity and parameters; everything that changes the vectors is in here. */
  describe(): EmbedderDescription {
    return {
      id: this.id,
      dimensions: this.dimensions,
      params: {
        hash: 'fnv1a32+murmur3-fmix32',
        seed: this.seed,
        tf: 'sublinear',
        tokenizerVersion: TOKENIZER_VERSION,
        tokenizer: { ...this.tokenizer, stopWords: [...this.tokenizer.stopWords] },
      },
    };
  }

  /** {@link embedOne} over a batch. */
  async embed(texts: readonly string[]): Promise<Float32Array[]> {
    return texts.map((t) => this.embedOne(t));
  }

  /** The hashed, signed, sublinear-TF vector of one text, L2-normalized (all zeros when it has no token). */
  embedOne(text: string): Float32Array {
    const counts = new Map<string, number>();
    for (const t of tokenize(text, this.tokenizer)) counts.set(t, (counts.get(t) ?? 0) + 1);
    // Sorted, so the float sums do not depend on token order in the text.
    const terms = [...counts.keys()].sort();
    const acc = new Float64Array(this.dimensions);
    for (const term of terms) {
      const h = hash32(term, this.seed);
      // The sign comes from a second, differently seeded hash, so it is independent of the bucket
      // whatever `dimensions` is (a bit of the bucket hash may overlap the bits `%` keeps).
      const sign = hash32(term, this.seed ^ 0x5bd1e995) & 1 ? -1 : 1;
      acc[h % this.dimensions] += sign * (1 + Math.log(counts.get(term) ?? 1));
    }
    return l2NormalizeToFloat32(acc);
  }
}
