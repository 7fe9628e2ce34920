import type { estypes } from '@elastic/elasticsearch';
import { InvalidInputError } from '@rescue/domain';
import type { SearchCollection, TextField } from '../knowledge-index';

// The index definitions: which indices a KB version has, their names, settings and mappings.
// Everything else in this folder reads the collections' fields from SCHEMA below.

/** `DenseVectorFieldMapper.MAX_DIMS_COUNT` in Elasticsearch 8.x. */
export const MAX_DIMS = 4096;
/** The analyzer of every text field, at index and at search time. */
export const TERMS_ANALYZER = 'search_terms';

/** The document collections of a KB version, one index (and alias) each. */
export type KnowledgeCollection = SearchCollection;

/** The collections with a vector field, the ones {@link ElasticsearchKnowledgeIndex.searchVector} reads. */
export type VectorCollection = 'nodes' | 'examples';

/** In this order everywhere: index creation, bulk, refresh, counts, alias actions, deletes. */
export const COLLECTIONS: readonly KnowledgeCollection[] = ['nodes', 'examples', 'documents'];

/** The three indices (or aliases) a KB version is read from. */
export type KnowledgeIndexNames = Record<KnowledgeCollection, string>;

/** One entry per collection, in {@link COLLECTIONS} order. */
export function perCollection<T>(make: (collection: KnowledgeCollection) => T): Record<KnowledgeCollection, T> {
  return { nodes: make('nodes'), examples: make('examples'), documents: make('documents') };
}

/**
 * What each collection's index holds. The mappings, the fields searches may name and the fields a hit
 * carries back all come from here, so a field added to a collection is added everywhere at once.
 */
export interface CollectionSchema {
  keywords: readonly string[];
  /** Search-term fields: BM25 with {@link TERMS_ANALYZER}. */
  texts: readonly TextField[];
  vector?: 'cause_vector' | 'code_vector';
  /** `_source` of a hit: what a {@link TextHit} is made of (the id is the `_id`). */
  hitFields: readonly string[];
}

export const SCHEMA: Record<KnowledgeCollection, CollectionSchema> = {
  nodes: { keywords: ['id', 'cwe', 'language'], texts: ['text', 'api_text', 'doc_terms', 'catalog_terms'], vector: 'cause_vector', hitFields: ['cwe', 'language'] },
  examples: { keywords: ['id', 'node_id', 'cwe', 'language', 'kind'], texts: ['api_text', 'code_text'], vector: 'code_vector', hitFields: ['cwe', 'language', 'node_id'] },
  // `cwes` is a keyword array: a term or terms query matches a document holding any of them.
  documents: { keywords: ['id', 'kind', 'cwes', 'language'], texts: ['terms'], hitFields: ['cwes', 'language'] },
};

/** The schema of a collection named by a caller. @throws InvalidInputError for an unknown collection. */
export function schemaOf(collection: string): CollectionSchema {
  if (!Object.hasOwn(SCHEMA, collection)) throw new InvalidInputError(`unknown collection ${JSON.stringify(collection)}; the collections are ${COLLECTIONS.join(', ')}`);
  return SCHEMA[collection as KnowledgeCollection];
}

/**
 * Narrower than ES's index name rules (lowercase, none of `\ / * ? " < > | , # :` or space), which
 * also keeps `*` and `,` out of names that end up in delete requests.
 */
const NAME = /^[a-z0-9][a-z0-9._-]*$/;

/** @throws InvalidInputError for a prefix or version that cannot be part of an index name. */
export function assertName(what: string, value: string): void {
  if (!NAME.test(value) || value.length > 200) {
    throw new InvalidInputError(`${what} must be lowercase letters, digits, '.', '_' or '-' (at most 200), got ${JSON.stringify(value)}`);
  }
}

/** @throws InvalidInputError for a vector length a `dense_vector` mapping refuses. */
export function assertDims(dims: number): void {
  if (!Number.isInteger(dims) || dims < 1 || dims > MAX_DIMS) throw new InvalidInputError(`dims must be an integer in 1..${MAX_DIMS}, got ${dims}`);
}

/** The aliases of a prefix: `${prefix}-nodes`, `${prefix}-examples`, `${prefix}-documents`. */
export const aliasNames = (prefix: string): KnowledgeIndexNames => perCollection((c) => `${prefix}-${c}`);

/** The concrete indices of one KB version: `${prefix}-nodes-${version}`, and so on. */
export const versionIndexNames = (prefix: string, version: string): KnowledgeIndexNames => perCollection((c) => `${prefix}-${c}-${version}`);

/** The version an index of this prefix belongs to, or undefined for any other index. */
export function versionOfIndex(prefix: string, index: string): string | undefined {
  for (const c of COLLECTIONS) {
    const head = `${prefix}-${c}-`;
    if (index.startsWith(head) && index.length > head.length) return index.slice(head.length);
  }
  return undefined;
}

/**
 * Text fields hold search terms (`searchText`): already lowercased, split, stemmed and stop-word free,
 * words separated by single spaces. The index must only split them on whitespace: the standard
 * analyzer would split `get_target` or `os.system` differently from the KB build, and from the
 * embedded backend's whitespace index, so the same query would rank differently on the two backends.
 */
export const INDEX_SETTINGS: estypes.IndicesIndexSettings = {
  analysis: { analyzer: { [TERMS_ANALYZER]: { type: 'custom', tokenizer: 'whitespace', filter: [] } } },
};

/**
 * `search_analyzer` is spelled out although it defaults to `analyzer`: an index-level
 * `analysis.analyzer.default_search` (from a cluster's catch-all index template, say) would otherwise
 * take precedence over the field's `analyzer` at query time.
 */
const termsProperty = (): estypes.MappingTextProperty => ({ type: 'text', analyzer: TERMS_ANALYZER, search_analyzer: TERMS_ANALYZER });

/**
 * `index_options: hnsw` keeps float vectors. Recent 8.x releases default new float fields to a
 * quantised HNSW, whose scores are approximations: the cosine recovered from `_score` would no longer
 * match the embedded backend, and small KBs gain nothing from the memory saved.
 */
function vectorProperty(dims: number): estypes.MappingDenseVectorProperty {
  return { type: 'dense_vector', dims, similarity: 'cosine', index: true, index_options: { type: 'hnsw' } };
}

/** The mapping of a collection's index; `dims` is the vector length (ignored for documents, which have no vector). */
export function mappingOf(collection: KnowledgeCollection, dims: number | undefined): estypes.MappingTypeMapping {
  const schema = SCHEMA[collection];
  const properties: Record<string, estypes.MappingProperty> = {};
  for (const field of schema.keywords) properties[field] = { type: 'keyword' };
  for (const field of schema.texts) properties[field] = termsProperty();
  if (schema.vector && dims !== undefined) properties[schema.vector] = vectorProperty(dims);
  // A field that is not in this mapping is a bug in the writer, not a new field to guess a type for.
  return { dynamic: 'strict', properties };
}
