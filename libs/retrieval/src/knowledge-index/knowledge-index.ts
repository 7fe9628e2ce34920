import type { Hit, SearchFilter } from './lance-knowledge-index';

/**
 * The read side of a knowledge index, whatever stores it: the embedded LanceDB tables
 * ({@link LanceKnowledgeIndex}) or Elasticsearch ({@link ElasticsearchKnowledgeIndex}).
 *
 * Text searches return BM25 scores and vector searches return cosine similarity, each list
 * best first. The two kinds are never mixed here: fusing them (client-side RRF) is the caller's
 * job, so both backends rank the same way and neither needs a licensed server feature.
 */
export interface KnowledgeIndexReader {
  /** BM25 over one node text field: `text` (name, description, guidelines, cause) or `api_text` (API names). */
  searchNodesText(query: string, column: 'text' | 'api_text', k: number, filter?: SearchFilter): Promise<Hit[]>;
  /** Nearest nodes by cosine similarity of their cause vector. */
  searchNodesVector(vector: Float32Array, k: number, filter?: SearchFilter): Promise<Hit[]>;
  /** BM25 over the API names of code examples. */
  searchExamplesApi(query: string, k: number, filter?: SearchFilter): Promise<Hit[]>;
  /** Nearest code examples by cosine similarity of their code vector. */
  searchExamplesVector(vector: Float32Array, k: number, filter?: SearchFilter): Promise<Hit[]>;
  /** CWE nodes ranked by their best example under BM25 over the examples' code (the `examples` facet). */
  searchNodesByExampleCode(query: string, k: number, filter?: SearchFilter): Promise<Hit[]>;
  /** Documents in each collection of the version being read. */
  counts(): Promise<{ nodes: number; examples: number }>;
}
