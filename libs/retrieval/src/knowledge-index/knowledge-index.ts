/** A CWE node as the indexes store it. */
export interface IndexedNode {
  id: string;
  cwe: string;
  /** '' for language-neutral nodes (one per CWE: `any:CWE-89`). */
  language: string;
  /** Search terms of the node's own text (name, description, guidelines, cause). */
  text: string;
  apiText: string;
  /** Language-neutral nodes: search terms of everything known about the CWE (catalogue, fixes, CodeQL help). */
  docTerms?: string;
  /** Language-neutral nodes: search terms of the catalogue entry (name, description, alternate terms, examples' prose, mitigations). */
  catalogTerms?: string;
  causeVector: Float32Array;
}

/** A code example as the indexes store it. */
export interface IndexedExample {
  id: string;
  nodeId: string;
  cwe: string;
  language: string;
  /** `fix` (a fix pair) or `vulnerable` (bad code alone). */
  kind?: string;
  apiText: string;
  /** Search terms of the whole fix (both versions, description, commit subject). */
  codeText?: string;
  codeVector: Float32Array;
}

/** A knowledge document (CodeQL help, a functional description) as the indexes store it. */
export interface IndexedDocument {
  id: string;
  kind: string;
  cwes: string[];
  language?: string;
  terms: string;
}

/** Everything the search indexes hold for one KB version. */
export interface IndexedKnowledge {
  nodes: IndexedNode[];
  examples: IndexedExample[];
  documents: IndexedDocument[];
}

export type SearchCollection = 'nodes' | 'examples' | 'documents';

/** The term fields searches run on, per collection. */
export type TextField = 'text' | 'api_text' | 'doc_terms' | 'catalog_terms' | 'code_text' | 'terms';

export interface Hit {
  id: string;
  /** BM25 score for text searches, cosine similarity for vector searches. */
  score: number;
}

/** A hit with what retrieval groups by: the CWE(s), the language, the node. */
export interface TextHit extends Hit {
  cwes?: string[];
  language?: string;
  nodeId?: string;
}

export interface SearchFilter {
  /** Rows of this language; for nodes, plus the language-neutral ones. */
  language?: string;
  /** Language-neutral rows only (the CWE-level nodes). */
  neutral?: boolean;
  /** Examples of this kind (`fix`, `vulnerable`), documents of this kind (`codeql-help`, `description`). */
  kind?: string;
  /** Examples under these nodes only. */
  nodeIds?: string[];
  cwe?: string;
  /** Rows of these CWEs only. */
  cwes?: string[];
}

/**
 * The read side of a knowledge index, whatever stores it: the embedded LanceDB tables
 * ({@link LanceKnowledgeIndex}) or Elasticsearch ({@link ElasticsearchKnowledgeIndex}).
 *
 * Text searches take search terms (`searchText`) and return BM25 scores; vector searches return
 * cosine similarity; each list best first. Fusing them is the caller's job, so both backends rank
 * the same way and neither needs a licensed server feature.
 */
export interface KnowledgeIndexReader {
  searchText(collection: SearchCollection, field: TextField, query: string, k: number, filter?: SearchFilter): Promise<TextHit[]>;
  searchVector(collection: 'nodes' | 'examples', vector: Float32Array, k: number, filter?: SearchFilter): Promise<TextHit[]>;
  /** Rows in each collection of the version being read. */
  counts(): Promise<Record<SearchCollection, number>>;
}
