import type { Client } from '@elastic/elasticsearch';
import type { IndexedKnowledge, KnowledgeIndexReader, SearchCollection, SearchFilter, TextField, TextHit } from '../knowledge-index';
import { type BulkPolicy, bulkPolicyOf } from './bulk';
import { assertName, type KnowledgeCollection, type KnowledgeIndexNames, type VectorCollection } from './mappings';
import { type PublishOptions, type PublishResult, publishVersion } from './publish';
import { type SearchTarget, searchText, searchVector } from './search';
import { KbVersions } from './versions';

/** Options of {@link ElasticsearchKnowledgeIndex}. */
export interface ElasticsearchKnowledgeIndexOptions {
  /** Names every index and alias: `${prefix}-nodes`, `${prefix}-nodes-${version}`, and the same for examples and documents. */
  prefix: string;
  /** Read this KB version's indices instead of the live aliases. */
  version?: string;
  /** How {@link ElasticsearchKnowledgeIndex.publish} sends its bulk requests and resends throttled ones. */
  bulk?: BulkPolicy;
  /** kNN candidates per shard for a search of `k` (default `max(10k, 100)`, at most 10,000). More costs latency, fewer costs recall. */
  numCandidates?: (k: number) => number;
}

/**
 * The Elasticsearch knowledge index: three indices per KB version (`${prefix}-nodes-${version}`,
 * `${prefix}-examples-${version}`, `${prefix}-documents-${version}`) behind the aliases
 * `${prefix}-nodes`, `${prefix}-examples` and `${prefix}-documents`, with BM25 on the search-term
 * fields (split on whitespace only, as the embedded backend does) and cosine kNN on the vectors.
 * Mappings are owned here (mappings.ts); {@link publish} builds a version and swaps the three
 * aliases at once (publish.ts, versions.ts), and the searches (search.ts) read the aliases or the
 * version given in the options.
 *
 * BM25 and kNN are separate requests: server-side RRF needs an Enterprise licence, so fusion is done
 * by the caller on the ranked lists.
 *
 * One publisher per prefix at a time (the indexer queue runs one KB build at a time): two concurrent
 * publishes would each swap the aliases from what they read before.
 */
export class ElasticsearchKnowledgeIndex implements KnowledgeIndexReader {
  /** What the searches read: the aliases, or one version's indices. */
  readonly target: KnowledgeIndexNames;
  /** The aliases a publish moves. */
  readonly aliases: KnowledgeIndexNames;
  private readonly versions: KbVersions;
  private readonly bulk: Required<BulkPolicy>;
  private readonly search: SearchTarget;

  /** @throws InvalidInputError for a prefix or version that cannot name an index, or a bulk policy out of range. */
  constructor(
    private readonly client: Client,
    options: ElasticsearchKnowledgeIndexOptions,
  ) {
    assertName('prefix', options.prefix);
    if (options.version !== undefined) assertName('version', options.version);
    this.bulk = bulkPolicyOf(options.bulk);
    this.versions = new KbVersions(client, options.prefix);
    this.aliases = this.versions.aliases;
    this.target = options.version === undefined ? this.aliases : this.versions.indicesOf(options.version);
    this.search = { client, indices: this.target, numCandidates: options.numCandidates ?? ((k) => Math.max(k * 10, 100)) };
  }

  /** The concrete index names of a KB version. */
  indicesOf(version: string): KnowledgeIndexNames {
    return this.versions.indicesOf(version);
  }

  /** The version the aliases point at, or undefined before the first publish. */
  liveVersion(): Promise<string | undefined> {
    return this.versions.liveVersion();
  }

  /**
   * Builds `version` from `index` (nodes, examples, documents) and makes it live:
   * 1. checks every document locally (ids, vector length, finite values) and sends nothing if one fails;
   * 2. creates the three indices with their mappings (dims from `options.dims`);
   * 3. bulk-indexes each collection through the client's bulk helper with `_id` = document id
   *    (`index` ops, so a rerun overwrites instead of duplicating); the helper resends items
   *    answered 429 and drops the ones refused for their content (see `bulkIndex`); any drop fails
   *    the publish once every collection has been sent, so the error lists every bad document;
   * 4. refreshes once, then checks the document counts;
   * 5. moves the three aliases in one `_aliases` request (atomic: readers see the old version or the new one);
   * 6. deletes versions beyond `keep`, never the live one.
   *
   * If any of steps 1-5 fails, the aliases keep serving the previous version, the new indices are
   * deleted (except after a swap whose outcome could not be read back), and a
   * {@link KnowledgeIndexPublishError} is thrown.
   *
   * Versions are immutable (the KB names them by a hash of their content): publishing the version that
   * is already live writes nothing, so a rerun of an indexer job that crashed after the swap succeeds.
   * Existing indices of a version that is not live are leftovers or a retained old copy; they serve no
   * alias reads, so they are rebuilt.
   *
   * @throws InvalidInputError for a version that cannot name an index, dims or keep out of range, or
   *   an `index` without the three collections; nothing is sent then.
   */
  publish(version: string, index: IndexedKnowledge, options: PublishOptions): Promise<PublishResult> {
    return publishVersion({ client: this.client, versions: this.versions, bulk: this.bulk }, version, index, options);
  }

  /**
   * BM25 of `query` (search terms, any number; a document matching any scores) over one term field of
   * a collection, with the filter applied as non-scoring clauses. Hits carry the CWE(s), the language
   * and, for examples, the node; best first, at most `k`.
   *
   * @throws InvalidInputError when the collection has no such field, the filter names a field the
   *   collection lacks (`kind` on nodes, `nodeIds` on documents), or `k` is not a whole number.
   */
  searchText(collection: SearchCollection, field: TextField, query: string, k: number, filter?: SearchFilter): Promise<TextHit[]> {
    return searchText(this.search, collection, field, query, k, filter);
  }

  /**
   * Nearest nodes (by cause vector) or examples (by code vector), cosine similarity as the score, the
   * filter applied during the graph search. A zero vector has no direction and matches nothing.
   *
   * @throws InvalidInputError for a collection without vectors, a vector holding NaN or Infinity, a
   *   filter naming a field the collection lacks, or a `k` that is not a whole number.
   */
  searchVector(collection: VectorCollection, vector: Float32Array, k: number, filter?: SearchFilter): Promise<TextHit[]> {
    return searchVector(this.search, collection, vector, k, filter);
  }

  /** Documents in the three indices being read. */
  counts(): Promise<Record<KnowledgeCollection, number>> {
    return this.versions.counts(this.target);
  }
}
