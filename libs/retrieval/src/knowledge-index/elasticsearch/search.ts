import type { Client, estypes } from '@elastic/elasticsearch';
import { InvalidInputError } from '@rescue/domain';
import type { SearchCollection, SearchFilter, TextField, TextHit } from '../knowledge-index';
import { type KnowledgeCollection, type KnowledgeIndexNames, schemaOf, type VectorCollection } from './mappings';
import { isZero } from './prepare-documents';

/** Elasticsearch caps both `k` and `num_candidates` of a kNN search at 10,000. */
const MAX_KNN = 10_000;
/** `index.max_result_window` (default 10,000): a larger `size` is refused, not truncated. */
const MAX_RESULT_WINDOW = 10_000;

/** Where searches run: the cluster and the three indices (or aliases) read. */
export interface SearchTarget {
  client: Client;
  indices: KnowledgeIndexNames;
  /** kNN candidates per shard for a search of `k`. */
  numCandidates: (k: number) => number;
}

/** See {@link ElasticsearchKnowledgeIndex.searchText}. */
export async function searchText(target: SearchTarget, collection: SearchCollection, field: TextField, query: string, k: number, filter?: SearchFilter): Promise<TextHit[]> {
  const schema = schemaOf(collection);
  if (!schema.texts.includes(field)) throw new InvalidInputError(`${collection} have no text field ${JSON.stringify(field)}; they have ${schema.texts.join(', ')}`);
  assertK(k);
  const filters = filtersFor(collection, filter);
  // The embedded backend drops everything but letters, digits and '_' from a query, so `os.system`
  // searches `os` and `system` there; the same here, or the whitespace analyzer would keep it whole.
  const q = query
    .replace(/[^\p{L}\p{N}_\s]/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  if (!q || k === 0 || filters === NO_MATCH) return [];
  const match: estypes.QueryDslQueryContainer = { match: { [field]: { query: q, operator: 'or' } } };
  const response = await target.client.search<HitSource>({
    index: target.indices[collection],
    size: Math.min(k, MAX_RESULT_WINDOW),
    _source: [...schema.hitFields],
    // Only the ranking is used; counting every match would cost a full pass.
    track_total_hits: false,
    query: filters.length > 0 ? { bool: { must: [match], filter: filters } } : match,
  });
  return best(
    response.hits.hits.flatMap((h) => (h._id !== undefined && typeof h._score === 'number' ? [toTextHit(h._id, h._score, h._source)] : [])),
    k,
  );
}

/** See {@link ElasticsearchKnowledgeIndex.searchVector}. */
export async function searchVector(target: SearchTarget, collection: VectorCollection, vector: Float32Array, k: number, filter?: SearchFilter): Promise<TextHit[]> {
  const schema = schemaOf(collection);
  if (!schema.vector) throw new InvalidInputError(`${collection} have no vectors; vector search runs on nodes and examples`);
  assertK(k);
  const filters = filtersFor(collection, filter);
  // ES rejects a zero query vector for cosine; it has no direction, so it matches nothing (as in the embedded backend).
  if (k === 0 || filters === NO_MATCH || isZero(vector)) return [];
  if (!vector.every(Number.isFinite)) throw new InvalidInputError('query vector holds NaN or Infinity');
  const kk = Math.min(k, MAX_KNN);
  const numCandidates = Math.min(Math.max(target.numCandidates(kk), kk), MAX_KNN);
  const response = await target.client.search<HitSource>({
    index: target.indices[collection],
    size: kk,
    _source: [...schema.hitFields],
    track_total_hits: false,
    // A kNN `filter` is applied during the graph search, so k hits come back even when the filter is selective.
    knn: { field: schema.vector, query_vector: Array.from(vector), k: kk, num_candidates: numCandidates, ...(filters.length > 0 ? { filter: filters } : {}) },
  });
  return best(
    response.hits.hits.flatMap((h) => (h._id !== undefined && typeof h._score === 'number' ? [toTextHit(h._id, cosineFromScore(h._score), h._source)] : [])),
    kk,
  );
}

function assertK(k: number): void {
  if (!Number.isInteger(k) || k < 0) throw new InvalidInputError(`k must be a whole number, got ${k}`);
}

/** What a hit's `_source` may hold: the {@link CollectionSchema.hitFields}, read defensively. */
interface HitSource {
  cwe?: unknown;
  cwes?: unknown;
  language?: unknown;
  node_id?: unknown;
}

function toTextHit(id: string, score: number, source: HitSource | undefined): TextHit {
  const hit: TextHit = { id, score };
  if (typeof source?.cwe === 'string') hit.cwes = [source.cwe];
  // A keyword array of one value may come back as the bare value if a writer stored it so.
  if (Array.isArray(source?.cwes)) hit.cwes = source.cwes.filter((c): c is string => typeof c === 'string');
  else if (typeof source?.cwes === 'string') hit.cwes = [source.cwes];
  if (typeof source?.language === 'string') hit.language = source.language;
  if (typeof source?.node_id === 'string') hit.nodeId = source.node_id;
  return hit;
}

/** Best first (ES already answers so; a stable sort keeps its tie order) and at most `k`. */
const best = (hits: TextHit[], k: number): TextHit[] => hits.sort((a, b) => b.score - a.score).slice(0, k);

/** Filter clauses, or NO_MATCH when the filter excludes everything (an empty `nodeIds` or `cwes`). */
type Filters = estypes.QueryDslQueryContainer[] | typeof NO_MATCH;
const NO_MATCH = Symbol('no match');

/**
 * The filter as non-scoring clauses over one collection, with the embedded backend's meaning:
 * - `language`: that language; for nodes, also the language-neutral ones (language '');
 * - `neutral`: language '' only;
 * - `kind`: examples (`fix`, `vulnerable`) and documents (`codeql-help`, `description`);
 * - `nodeIds`: examples under those nodes (on nodes: those nodes themselves);
 * - `cwe`, `cwes`: the `cwe` keyword, or, on documents, any of their `cwes`.
 */
function filtersFor(collection: KnowledgeCollection, filter: SearchFilter | undefined): Filters {
  const out: estypes.QueryDslQueryContainer[] = [];
  if (!filter) return out;
  // A filter on a field the collection lacks is the caller's mistake, whatever else the filter says.
  if (filter.kind && collection === 'nodes') throw new InvalidInputError('nodes have no kind; the kind filter applies to examples and documents');
  if (filter.nodeIds && collection === 'documents') throw new InvalidInputError('documents belong to no node; the nodeIds filter applies to nodes and examples');
  if (filter.language) out.push(collection === 'nodes' ? { terms: { language: [filter.language, ''] } } : { term: { language: filter.language } });
  if (filter.neutral) out.push({ term: { language: '' } });
  if (filter.kind) out.push({ term: { kind: filter.kind } });
  const cweField = collection === 'documents' ? 'cwes' : 'cwe';
  if (filter.cwe) out.push({ term: { [cweField]: filter.cwe } });
  if (filter.cwes) {
    if (filter.cwes.length === 0) return NO_MATCH;
    out.push({ terms: { [cweField]: filter.cwes } });
  }
  if (filter.nodeIds) {
    if (filter.nodeIds.length === 0) return NO_MATCH;
    out.push({ terms: { [collection === 'nodes' ? 'id' : 'node_id']: filter.nodeIds } });
  }
  return out;
}

/** ES scores cosine kNN hits as `(1 + cos) / 2` so scores stay positive; undo it (clamped against float rounding). */
function cosineFromScore(score: number): number {
  return Math.max(-1, Math.min(1, 2 * score - 1));
}
