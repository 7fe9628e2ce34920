import { type JsonValue, canonicalJson } from '@rescue/domain';

/**
 * The identity and parameters of an embedder, stored with a knowledge base. Vectors from two
 * embedders are only comparable when their descriptions are equal (see {@link sameEmbedder}), so
 * a KB built with one model must be queried with the same one.
 *
 * A type alias rather than an interface on purpose: aliases get an implicit index signature, so
 * a description can be passed where a plain record (e.g. a KB manifest field) is expected.
 */
export type EmbedderDescription = {
  /** The embedder family, e.g. 'local-lsa', 'local-hashing', 'openai'. */
  id: string;
  /** Length of every vector the embedder returns. */
  dimensions: number;
  /** Family-specific parameters (model name, seed, vocabulary size, model fingerprint…). */
  params: { [key: string]: JsonValue };
};

/**
 * Turns texts into dense vectors for cosine retrieval (the paper's cause and code-similarity
 * facets, §4.2 and §4.4). Implementations return L2-normalized vectors, so the dot product is the
 * cosine; a text that carries no signal for the embedder may come back as the zero vector, whose
 * cosine with anything is defined as 0 (see {@link cosine}).
 */
export interface Embedder {
  /** Same as describe().id. */
  readonly id: string;
  /** Same as describe().dimensions. */
  readonly dimensions: number;
  /** JSON-serializable identity and parameters; equal descriptions mean comparable vectors. */
  describe(): EmbedderDescription;
  /** One vector per text, in input order, each of length `dimensions` and unit norm (or all zeros). */
  embed(texts: readonly string[]): Promise<Float32Array[]>;
}

/** Whether vectors of two described embedders can be compared (deep equality of the descriptions). */
export function sameEmbedder(a: EmbedderDescription, b: EmbedderDescription): boolean {
  return canonicalJson(a) === canonicalJson(b);
}
