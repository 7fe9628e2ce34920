import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as Zod from 'zod';
import { InvalidInputError, canonicalJson, float32FromBase64, float32ToBase64 } from '@rescue/domain';
import type { Embedder, EmbedderDescription } from './embedder';
import { type CsrMatrix, randomizedSvd } from './linalg';
import { type ResolvedTokenizeOptions, resolveTokenizeOptions, TOKENIZER_VERSION, tokenize, type TokenizeOptions } from './text-tokens';
import { l2NormalizeToFloat32 } from './vectors';

/** Options of {@link LsaEmbedder.fit}. */
export interface LsaFitOptions {
  /**
   * Latent dimensions requested. The model may end up with fewer (see {@link LsaEmbedder.dimensions}):
   * never more than the number of documents or vocabulary terms, and never more than the numerical
   * rank of the TF-IDF matrix. Default 256.
   */
  dimensions?: number;
  /** Seed of the randomized SVD's test matrix. Same corpus + options + seed → bit-identical model. Default 1. */
  seed?: number;
  /** A term must occur in at least this many documents to enter the vocabulary. Default 2. */
  minDf?: number;
  /** At most this many terms are kept, the most frequent by document frequency. Default 30000. */
  maxVocab?: number;
  /** Randomized SVD oversampling (sketch width = dimensions + oversampling). Default 10. */
  oversampling?: number;
  /**
   * Randomized SVD power iterations. Default 2: on the CWE catalogue more iterations sharpen the
   * weakest of 256 singular values (by about 3% from 2 to 5) but do not change retrieval quality.
   */
  powerIterations?: number;
  /**
   * Each latent axis i is scaled by σᵢ^sigmaExponent in the embedding. 0 gives the usual LSA
   * document space (x·V = UΣ, as scikit-learn's TruncatedSVD.transform); −1 gives the classic
   * fold-in q·V·Σ⁻¹ (U space), where every axis counts the same. Default −0.5, halfway. Measured
   * on 21 hand-written paraphrases of CWE causes against the CWE-1000 names and descriptions
   * (256 dimensions), the mean reciprocal rank was 0.66 (0), 0.68 (−0.5) and 0.63 (−1): a small
   * difference, so this is a mild preference, not a tuned constant.
   */
  sigmaExponent?: number;
  /** Tokenizer settings, stored with the model. Default: {@link tokenize}'s defaults with keepJoined = true. */
  tokenizer?: TokenizeOptions;
}

/** The serialized form of an {@link LsaEmbedder} ({@link LsaEmbedder.toJSON}); plain JSON. */
export interface LsaModelJson {
  format: 'rescue-lsa';
  version: 1;
  tokenizerVersion: number;
  tokenizer: { keepJoined: boolean; stopWords: string[]; minLength: number; maxLength: number };
  params: {
    requestedDimensions: number;
    seed: number;
    minDf: number;
    maxVocab: number;
    oversampling: number;
    powerIterations: number;
    sigmaExponent: number;
  };
  corpusSize: number;
  dimensions: number;
  vocabulary: string[];
  /** Singular values of the TF-IDF matrix (information only; the projection already includes the scaling). */
  singularValues: number[];
  /** Per-term IDF, little-endian float32, base64. */
  idf: string;
  /** vocabulary.length × dimensions, row-major, little-endian float32, base64. */
  projection: string;
}

/**
 * The model's schema, what decides whether a stored model is valid and what is wrong with it. Built
 * on first use, and used only when {@link readLsaModel}'s own check does not accept a model: zod is
 * a sixth of a `rescue retrieve` just to load, and every retrieval reads a model.
 */
function lsaModelSchema() {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { z } = require('zod') as typeof Zod;
  return z.object({
    format: z.literal('rescue-lsa'),
    version: z.literal(1),
    tokenizerVersion: z.number().int(),
    tokenizer: z.object({
      keepJoined: z.boolean(),
      stopWords: z.array(z.string()),
      minLength: z.number().int().nonnegative(),
      maxLength: z.number().int().positive(),
    }),
    params: z.object({
      requestedDimensions: z.number().int().positive(),
      seed: z.number().int(),
      minDf: z.number().int().positive(),
      maxVocab: z.number().int().positive(),
      oversampling: z.number().int().nonnegative(),
      powerIterations: z.number().int().nonnegative(),
      sigmaExponent: z.number().finite(),
    }),
    corpusSize: z.number().int().nonnegative(),
    dimensions: z.number().int().positive(),
    vocabulary: z.array(z.string().min(1)),
    singularValues: z.array(z.number().finite()),
    // Checked as base64 by float32FromBase64, which decodes them: a second regex pass here over the
    // projection (12 MB in our KB) cost a fifth of a cold `rescue retrieve` (a regex's first run is interpreted).
    idf: z.string(),
    projection: z.string(),
  });
}

let schema: ReturnType<typeof lsaModelSchema> | undefined;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isInt = (v: unknown, min = -Infinity): v is number => Number.isSafeInteger(v) && (v as number) >= min;
const isFinite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/**
 * A stored model (parsed JSON) as the schema returns it: its fields, in a new object, unknown
 * fields left out. A model this check accepts is one the schema accepts and returns the same for
 * (a test holds the two together); any other value goes to the schema, which rejects it with its
 * message, or returns what it accepts.
 */
export function readLsaModel(value: unknown): LsaModelJson {
  const m = value as Record<string, unknown>;
  const t = isObject(m) ? m.tokenizer : undefined;
  const p = isObject(m) ? m.params : undefined;
  const ok =
    isObject(m) &&
    m.format === 'rescue-lsa' &&
    m.version === 1 &&
    isInt(m.tokenizerVersion) &&
    isObject(t) &&
    typeof t.keepJoined === 'boolean' &&
    Array.isArray(t.stopWords) &&
    t.stopWords.every((w) => typeof w === 'string') &&
    isInt(t.minLength, 0) &&
    isInt(t.maxLength, 1) &&
    isObject(p) &&
    isInt(p.requestedDimensions, 1) &&
    isInt(p.seed) &&
    isInt(p.minDf, 1) &&
    isInt(p.maxVocab, 1) &&
    isInt(p.oversampling, 0) &&
    isInt(p.powerIterations, 0) &&
    isFinite(p.sigmaExponent) &&
    isInt(m.corpusSize, 0) &&
    isInt(m.dimensions, 1) &&
    Array.isArray(m.vocabulary) &&
    m.vocabulary.every((w) => typeof w === 'string' && w.length > 0) &&
    Array.isArray(m.singularValues) &&
    m.singularValues.every(isFinite) &&
    typeof m.idf === 'string' &&
    typeof m.projection === 'string';
  if (ok) {
    // Checked above, field by field: typed as the model from here.
    const { tokenizer, params, ...rest } = m as unknown as LsaModelJson;
    return {
      format: rest.format,
      version: rest.version,
      tokenizerVersion: rest.tokenizerVersion,
      tokenizer: { keepJoined: tokenizer.keepJoined, stopWords: [...tokenizer.stopWords], minLength: tokenizer.minLength, maxLength: tokenizer.maxLength },
      params: {
        requestedDimensions: params.requestedDimensions,
        seed: params.seed,
        minDf: params.minDf,
        maxVocab: params.maxVocab,
        oversampling: params.oversampling,
        powerIterations: params.powerIterations,
        sigmaExponent: params.sigmaExponent,
      },
      corpusSize: rest.corpusSize,
      dimensions: rest.dimensions,
      vocabulary: [...rest.vocabulary],
      singularValues: [...rest.singularValues],
      idf: rest.idf,
      projection: rest.projection,
    };
  }
  schema ??= lsaModelSchema();
  const parsed = schema.safeParse(value);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  if (!parsed.success) throw new InvalidInputError(`not a valid LSA model: ${(require('zod') as typeof Zod).z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/** The schema's own verdict on a value: what the test holding {@link readLsaModel} to the schema compares with. */
export function lsaModelSchemaVerdict(value: unknown): { success: true; data: LsaModelJson } | { success: false } {
  schema ??= lsaModelSchema();
  const parsed = schema.safeParse(value);
  return parsed.success ? { success: true, data: parsed.data } : { success: false };
}

/** Sublinear term frequency: the 10th repeat of a word adds far less than the 2nd. */
function sublinearTf(count: number): number {
  return 1 + Math.log(count);
}

function countTerms(tokens: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const t of tokens) counts.set(t, (counts.get(t) ?? 0) + 1);
  return counts;
}

function intAtLeast(name: string, value: number, min = 1): number {
  if (!Number.isInteger(value) || value < min) throw new RangeError(`${name} must be an integer ≥ ${min}, got ${value}`);
  return value;
}

/**
 * The fit's vocabulary, IDF and L2-normalized sublinear TF-IDF rows (CSR, columns ascending).
 *
 * @throws RangeError when no term occurs in at least `minDf` documents.
 */
function tfidfMatrix(corpus: readonly string[], tokenizer: ResolvedTokenizeOptions, params: LsaModelJson['params']): { vocabulary: string[]; idf: Float32Array; matrix: CsrMatrix } {
  const docCounts = corpus.map((text) => countTerms(tokenize(text, tokenizer)));
  const df = new Map<string, number>();
  for (const counts of docCounts) for (const term of counts.keys()) df.set(term, (df.get(term) ?? 0) + 1);
  // Most frequent first, ties by code unit order (not localeCompare, which depends on ICU data):
  // the cut at maxVocab and the term order are then independent of Map insertion order.
  const vocabulary = [...df.entries()]
    .filter(([, n]) => n >= params.minDf)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .slice(0, params.maxVocab)
    .map(([term]) => term);
  if (vocabulary.length === 0) {
    throw new RangeError(`no term occurs in at least minDf=${params.minDf} of the ${corpus.length} documents`);
  }
  const termIndex = new Map(vocabulary.map((t, i) => [t, i]));
  const n = corpus.length;
  // Smoothed IDF (as scikit-learn's smooth_idf): finite for every term, ≥ 1, so a term present
  // in all documents still counts a little. Rounded to float32 now, because that is what the
  // stored model holds and the fitted and reloaded models must agree bit for bit.
  const idf = Float32Array.from(vocabulary, (t) => Math.log((1 + n) / (1 + (df.get(t) ?? 0))) + 1);

  const rowPtr = new Int32Array(n + 1);
  let nnz = 0;
  for (const counts of docCounts) for (const term of counts.keys()) if (termIndex.has(term)) nnz += 1;
  const colIdx = new Int32Array(nnz);
  const values = new Float64Array(nnz);
  // Each row's term counts by column, sorted by column (a document has each term once, so the
  // order is total): the same weights summed in the same order as before, without a pair per entry.
  const countOf = new Float64Array(vocabulary.length);
  let at = 0;
  docCounts.forEach((counts, i) => {
    const start = at;
    for (const [term, count] of counts) {
      const j = termIndex.get(term);
      if (j === undefined) continue;
      colIdx[at] = j;
      countOf[j] = count;
      at += 1;
    }
    const row = colIdx.subarray(start, at).sort();
    let norm = 0;
    for (let p = 0; p < row.length; p += 1) {
      const j = row[p];
      const w = sublinearTf(countOf[j]) * idf[j];
      values[start + p] = w;
      norm += w * w;
    }
    const inv = norm > 0 ? 1 / Math.sqrt(norm) : 0;
    for (let p = start; p < at; p += 1) values[p] *= inv;
    rowPtr[i + 1] = at;
  });
  return { vocabulary, idf, matrix: { rows: n, cols: vocabulary.length, rowPtr, colIdx, values } };
}

/**
 * A weights-free local embedder by latent semantic analysis: sublinear TF-IDF over a corpus, then
 * a truncated SVD of the documents × terms matrix. Words that occur in similar documents get
 * similar latent coordinates, so "directory" lands near "path" even in texts that share no word
 * with each other, which exact-overlap methods (BM25, feature hashing) cannot do.
 *
 * - Fit with {@link LsaEmbedder.fit} (synchronous and CPU-bound: a few seconds for ~5,000 short
 *   documents; run it in a worker or a batch job, not on a request path).
 * - Store with {@link LsaEmbedder.toJSON}, reload with {@link LsaEmbedder.fromJSON}; the reloaded
 *   model gives bit-identical vectors.
 * - A text with no vocabulary term (empty, or only unseen words) embeds to the zero vector.
 *   {@link cosine} defines its similarity with anything as 0, so it retrieves nothing, rather than
 *   being given an arbitrary direction that would match some documents by accident.
 */
export class LsaEmbedder implements Embedder {
  /** Family id in {@link EmbedderDescription.id}. */
  static readonly ID = 'local-lsa';

  readonly id = LsaEmbedder.ID;
  readonly dimensions: number;
  private readonly tokenizer: ResolvedTokenizeOptions;
  private readonly termIndex: Map<string, number>;
  private fingerprint: string | undefined;

  private constructor(
    private readonly params: LsaModelJson['params'],
    tokenizer: ResolvedTokenizeOptions,
    private readonly corpusSize: number,
    dimensions: number,
    private readonly vocabulary: readonly string[],
    private readonly singularValues: readonly number[],
    private readonly idf: Float32Array,
    private readonly projection: Float32Array,
  ) {
    this.tokenizer = tokenizer;
    this.dimensions = dimensions;
    this.termIndex = new Map(vocabulary.map((t, i) => [t, i]));
  }

  /**
   * Fits a model on a corpus. Every document contributes one TF-IDF row (sublinear TF ×
   * smoothed IDF, L2-normalized so long documents do not dominate the SVD).
   *
   * @throws RangeError when the corpus is empty, an option is out of range, or no term occurs in
   * at least `minDf` documents.
   */
  static fit(corpus: readonly string[], options: LsaFitOptions = {}): LsaEmbedder {
    const params: LsaModelJson['params'] = {
      requestedDimensions: intAtLeast('dimensions', options.dimensions ?? 256),
      seed: Math.trunc(options.seed ?? 1) >>> 0,
      minDf: intAtLeast('minDf', options.minDf ?? 2),
      maxVocab: intAtLeast('maxVocab', options.maxVocab ?? 30000),
      oversampling: intAtLeast('oversampling', options.oversampling ?? 10, 0),
      powerIterations: intAtLeast('powerIterations', options.powerIterations ?? 2, 0),
      sigmaExponent: options.sigmaExponent ?? -0.5,
    };
    if (!Number.isFinite(params.sigmaExponent)) throw new RangeError(`sigmaExponent must be finite, got ${params.sigmaExponent}`);
    if (corpus.length === 0) throw new RangeError('cannot fit LSA on an empty corpus');
    const tokenizer = resolveTokenizeOptions({ keepJoined: true, ...options.tokenizer });

    // In a function of its own, so the per-document term counts can be collected before the SVD.
    const { vocabulary, idf, matrix } = tfidfMatrix(corpus, tokenizer, params);
    const n = corpus.length;

    const svd = randomizedSvd(matrix, params.requestedDimensions, {
      seed: params.seed,
      oversampling: params.oversampling,
      powerIterations: params.powerIterations,
    });
    const k = svd.k;
    const projection = new Float32Array(vocabulary.length * k);
    for (let i = 0; i < k; i += 1) {
      const scale = Math.pow(svd.singularValues[i], params.sigmaExponent);
      for (let j = 0; j < vocabulary.length; j += 1) projection[j * k + i] = svd.v[j * k + i] * scale;
    }
    return new LsaEmbedder(params, tokenizer, n, k, vocabulary, Array.from(svd.singularValues), idf, projection);
  }

  /**
   * Reloads a model saved with {@link LsaEmbedder.toJSON} (the object, or its JSON text).
   *
   * `fingerprint`: the model's {@link describe} fingerprint when the caller already holds it for
   * these very bytes (a KB version's manifest, whose checksum of the file matched): not worked out
   * again, which hashes the whole model (a tenth of a second at 256 dimensions).
   *
   * @throws InvalidInputError when the input is not a valid model, or was written by another tokenizer version.
   */
  static fromJSON(json: LsaModelJson | string, fingerprint?: string): LsaEmbedder {
    const m = readLsaModel(typeof json === 'string' ? JSON.parse(json) : json);
    if (m.tokenizerVersion !== TOKENIZER_VERSION) {
      throw new InvalidInputError(`LSA model was built with tokenizer v${m.tokenizerVersion}; this build tokenizes as v${TOKENIZER_VERSION}, refit the model`);
    }
    if (m.singularValues.length !== m.dimensions) throw new InvalidInputError(`LSA model has ${m.singularValues.length} singular values for ${m.dimensions} dimensions`);
    if (new Set(m.vocabulary).size !== m.vocabulary.length) throw new InvalidInputError('LSA model vocabulary has duplicate terms');
    const idf = float32FromBase64(m.idf, 'LSA model idf', m.vocabulary.length);
    const projection = float32FromBase64(m.projection, 'LSA model projection', m.vocabulary.length * m.dimensions);
    const model = new LsaEmbedder(m.params, { ...m.tokenizer }, m.corpusSize, m.dimensions, m.vocabulary, m.singularValues, idf, projection);
    model.fingerprint = fingerprint;
    return model;
  }

  /** The whole model as plain JSON; see {@link LsaModelJson}. */
  toJSON(): LsaModelJson {
    return {
      format: 'rescue-lsa',
      version: 1,
      tokenizerVersion: TOKENIZER_VERSION,
      tokenizer: { ...this.tokenizer, stopWords: [...this.tokenizer.stopWords] },
      params: { ...this.params },
      corpusSize: this.corpusSize,
      dimensions: this.dimensions,
      vocabulary: [...this.vocabulary],
      singularValues: [...this.singularValues],
      idf: float32ToBase64(this.idf),
      projection: float32ToBase64(this.projection),
    };
  }

  /** Number of vocabulary terms. */
  get vocabularySize(): number {
    return this.vocabulary.length;
  }

  /**
   * Identity of this exact model: the fit parameters plus a SHA-256 fingerprint of the serialized
   * model, so two models fitted on different corpora never pass for the same embedder.
   */
  describe(): EmbedderDescription {
    this.fingerprint ??= createHash('sha256').update(canonicalJson(this.toJSON())).digest('hex');
    return {
      id: this.id,
      dimensions: this.dimensions,
      params: {
        ...this.params,
        tokenizerVersion: TOKENIZER_VERSION,
        tokenizer: { ...this.tokenizer, stopWords: [...this.tokenizer.stopWords] },
        corpusSize: this.corpusSize,
        vocabularySize: this.vocabulary.length,
        sha256: this.fingerprint,
      },
    };
  }

  /** {@link embedOne} over a batch. */
  async embed(texts: readonly string[]): Promise<Float32Array[]> {
    return texts.map((t) => this.embedOne(t));
  }

  /**
   * Folds one text into the latent space: sublinear TF-IDF over the model's vocabulary, times the
   * stored projection (V·Σ^sigmaExponent), L2-normalized. Unknown words are ignored; a text with no
   * known word gives the zero vector.
   */
  embedOne(text: string): Float32Array {
    const k = this.dimensions;
    const acc = new Float64Array(k);
    // Terms in vocabulary order, so the float sum does not depend on word order in the text.
    const terms: number[] = [];
    const counts = countTerms(tokenize(text, this.tokenizer));
    const weight = new Map<number, number>();
    for (const [term, count] of counts) {
      const j = this.termIndex.get(term);
      if (j === undefined) continue;
      terms.push(j);
      weight.set(j, sublinearTf(count) * this.idf[j]);
    }
    terms.sort((a, b) => a - b);
    for (const j of terms) {
      const w = weight.get(j) ?? 0;
      const base = j * k;
      for (let i = 0; i < k; i += 1) acc[i] += w * this.projection[base + i];
    }
    return l2NormalizeToFloat32(acc);
  }
}

let codeFingerprint: string | undefined;

/**
 * An identity of the code that fits and applies an LSA model (this folder: the tokenizer, the
 * linear algebra, the embedder), as this process runs it: a hash of its source files. A model
 * remembered from an earlier fit is reused only by the same code, so a change that moves a single
 * bit of a fit (an operation reordered) makes the old model stale, without a version to bump.
 */
export function lsaCodeFingerprint(): string {
  if (codeFingerprint) return codeFingerprint;
  const h = createHash('sha256').update('rescue-lsa-code\n');
  for (const name of readdirSync(__dirname).sort())
    if (/\.(?:ts|js)$/.test(name) && !/\.d\.ts$|\.spec\./.test(name))
      h.update(`${name}\n`)
        .update(readFileSync(join(__dirname, name)))
        .update('\n');
  codeFingerprint = h.digest('hex');
  return codeFingerprint;
}
