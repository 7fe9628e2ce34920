import { setTimeout as delay } from 'node:timers/promises';
import { Client, errors, estypes } from '@elastic/elasticsearch';
import { InvalidInputError, RescueError, TransientUpstreamError } from '@rescue/domain';
import type {
  IndexedDocument,
  IndexedExample,
  IndexedKnowledge,
  IndexedNode,
  KnowledgeIndexReader,
  SearchCollection,
  SearchFilter,
  TextField,
  TextHit,
} from './knowledge-index';

/** `DenseVectorFieldMapper.MAX_DIMS_COUNT` in Elasticsearch 8.x. */
const MAX_DIMS = 4096;
/** Elasticsearch caps both `k` and `num_candidates` of a kNN search at 10,000. */
const MAX_KNN = 10_000;
/** `index.max_result_window` (default 10,000): a larger `size` is refused, not truncated. */
const MAX_RESULT_WINDOW = 10_000;
/** The analyzer of every text field, at index and at search time. */
const TERMS_ANALYZER = 'search_terms';
/** How many failures an error message names; the full list is on the error. */
const FAILURES_IN_MESSAGE = 5;

/** The document collections of a KB version, one index (and alias) each. */
export type KnowledgeCollection = SearchCollection;

/** The collections with a vector field, the ones {@link ElasticsearchKnowledgeIndex.searchVector} reads. */
export type VectorCollection = 'nodes' | 'examples';

/** In this order everywhere: index creation, bulk, refresh, counts, alias actions, deletes. */
const COLLECTIONS: readonly KnowledgeCollection[] = ['nodes', 'examples', 'documents'];

/** The three indices (or aliases) a KB version is read from. */
export type KnowledgeIndexNames = Record<KnowledgeCollection, string>;

/** How {@link ElasticsearchKnowledgeIndex.publish} sends its bulk requests and retries throttled items. */
export interface BulkPolicy {
  /** Documents per bulk request (default 500: a few MB with 384-dim vectors, well under the "tens of MB" ES advises). */
  batchSize?: number;
  /**
   * Upper bound of one bulk request's body in bytes (default 20 MiB), whatever `batchSize` says: a
   * language-neutral node's `doc_terms` holds every text known about its CWE, so 500 of them can pass
   * the 100 MB `http.max_content_length` that ES answers with 413. A document larger than this is sent
   * alone.
   */
  maxBatchBytes?: number;
  /** Sends of one item in all, the first included, before a 429 becomes a failure (default 5). */
  maxAttempts?: number;
  /** Wait before the first resend; doubles each time (default 200 ms). */
  baseDelayMs?: number;
  /** Upper bound of one wait (default 5000 ms). */
  maxDelayMs?: number;
}

/** Options of {@link ElasticsearchKnowledgeIndex}. */
export interface ElasticsearchKnowledgeIndexOptions {
  /** Names every index and alias: `${prefix}-nodes`, `${prefix}-nodes-${version}`, and the same for examples and documents. */
  prefix: string;
  /** Read this KB version's indices instead of the live aliases. */
  version?: string;
  bulk?: BulkPolicy;
  /** kNN candidates per shard for a search of `k` (default `max(10k, 100)`, at most 10,000). More costs latency, fewer costs recall. */
  numCandidates?: (k: number) => number;
  /** The backoff wait; tests replace it so retries do not sleep. */
  sleep?: (ms: number) => Promise<void>;
}

/** Options of one {@link ElasticsearchKnowledgeIndex.publish}. */
export interface PublishOptions {
  /**
   * Vector length of the embedder that produced the vectors, written into the mappings. Given by the
   * caller, never guessed from the first document, so a stray vector is rejected instead of defining
   * the index. A number applies to both vector collections (documents have no vector).
   */
  dims: number | Record<VectorCollection, number>;
  /** KB versions to keep, newest first by index creation time, the live one always kept (default 3). */
  keep?: number;
}

/** What a successful {@link ElasticsearchKnowledgeIndex.publish} did. */
export interface PublishResult {
  version: string;
  /** The version the aliases pointed at before, if any. */
  previousVersion?: string;
  /** True when `version` was already live with the same document counts, so nothing was written. */
  alreadyLive: boolean;
  indexed: Record<KnowledgeCollection, number>;
  /** Documents stored without their vector because it was all zeros (they never match a kNN search). */
  withoutVector: Record<VectorCollection, number>;
  /** Bulk items resent after a 429. */
  retried: number;
  /** Versions deleted by the `keep` policy. */
  deletedVersions: string[];
  /** Why deleting old versions failed, if it did. The new version is live either way; the next publish retries the pruning. */
  pruneError?: unknown;
}

/** A document that could not be indexed, or was refused before sending. */
export interface DocumentFailure {
  collection: KnowledgeCollection;
  id: string;
  /** HTTP status of the bulk item; absent for documents refused before sending. */
  status?: number;
  /** Elasticsearch's error type (`document_parsing_exception`, ...), or `invalid_document` for local checks. */
  type: string;
  reason: string;
}

/** The step of a publish that failed. */
export type PublishStage = 'validate' | 'prepare' | 'create' | 'bulk' | 'refresh' | 'verify' | 'swap';

/**
 * A publish that did not make its version live. The aliases still point at the previous version, and
 * the half-written indices were deleted unless {@link cleanupError} says otherwise (or, after a swap
 * whose outcome could not be read back, they were left in place on purpose: they may be live).
 *
 * Its kind says whether publishing the same content again can succeed:
 * - `invalid-input` when documents were refused as malformed: by the local checks (`validate`), or
 *   by Elasticsearch in `bulk` with a 4xx other than 429 (mapping, parsing, dims); resending them
 *   fails the same way. Also when the caller says so (a version live with other content).
 * - `transient` otherwise: the cluster did not answer, throttled past the retries (429), answered
 *   5xx, or counts did not match yet; a rerun rebuilds the indices from scratch.
 */
export class KnowledgeIndexPublishError extends RescueError {
  override readonly name = 'KnowledgeIndexPublishError';
  readonly kind: 'invalid-input' | 'transient';
  /** Set when deleting the half-written indices failed too. */
  cleanupError?: unknown;

  constructor(
    readonly version: string,
    readonly stage: PublishStage,
    message: string,
    /** Every failed document, in request order (for a dead-letter list). */
    readonly failures: DocumentFailure[] = [],
    options?: { cause?: unknown; kind?: 'invalid-input' | 'transient' },
  ) {
    super(`publish of KB version ${version} failed (${stage}): ${message}`, options);
    this.kind = options?.kind ?? (stage === 'validate' || failures.some(refusedAsMalformed) ? 'invalid-input' : 'transient');
  }
}

/** A document Elasticsearch (or the local check, which sets no status) refused for what it holds, not for load. */
const refusedAsMalformed = (f: DocumentFailure): boolean => f.status === undefined ? f.type === 'invalid_document' : f.status >= 400 && f.status < 500 && f.status !== 429;

/**
 * What each collection's index holds. The mappings, the fields searches may name and the fields a hit
 * carries back all come from here, so a field added to a collection is added everywhere at once.
 */
interface CollectionSchema {
  keywords: readonly string[];
  /** Search-term fields: BM25 with {@link TERMS_ANALYZER}. */
  texts: readonly TextField[];
  vector?: 'cause_vector' | 'code_vector';
  /** `_source` of a hit: what a {@link TextHit} is made of (the id is the `_id`). */
  hitFields: readonly string[];
}

const SCHEMA: Record<KnowledgeCollection, CollectionSchema> = {
  nodes: { keywords: ['id', 'cwe', 'language'], texts: ['text', 'api_text', 'doc_terms', 'catalog_terms'], vector: 'cause_vector', hitFields: ['cwe', 'language'] },
  examples: { keywords: ['id', 'node_id', 'cwe', 'language', 'kind'], texts: ['api_text', 'code_text'], vector: 'code_vector', hitFields: ['cwe', 'language', 'node_id'] },
  // `cwes` is a keyword array: a term or terms query matches a document holding any of them.
  documents: { keywords: ['id', 'kind', 'cwes', 'language'], texts: ['terms'], hitFields: ['cwes', 'language'] },
};

/** One document ready to send: its `_id` and its JSON body. */
interface PreparedDocument {
  id: string;
  doc: Record<string, unknown>;
}

interface Prepared {
  docs: PreparedDocument[];
  withoutVector: number;
  failures: DocumentFailure[];
}

interface BulkOutcome {
  failures: DocumentFailure[];
  retried: number;
}

/** Aliases' current indices; normally one each, but an alias edited by hand can hold several. */
type AliasTargets = Record<KnowledgeCollection, string[]>;

/**
 * Narrower than ES's index name rules (lowercase, none of `\ / * ? " < > | , # :` or space), which
 * also keeps `*` and `,` out of names that end up in delete requests.
 */
const NAME = /^[a-z0-9][a-z0-9._-]*$/;

function assertName(what: string, value: string): void {
  if (!NAME.test(value) || value.length > 200) {
    throw new InvalidInputError(`${what} must be lowercase letters, digits, '.', '_' or '-' (at most 200), got ${JSON.stringify(value)}`);
  }
}

function assertDims(dims: number): void {
  if (!Number.isInteger(dims) || dims < 1 || dims > MAX_DIMS) throw new InvalidInputError(`dims must be an integer in 1..${MAX_DIMS}, got ${dims}`);
}

/**
 * Text fields hold search terms (`searchText`): already lowercased, split, stemmed and stop-word free,
 * words separated by single spaces. The index must only split them on whitespace: the standard
 * analyzer would split `get_target` or `os.system` differently from the KB build, and from the
 * embedded backend's whitespace index, so the same query would rank differently on the two backends.
 */
const INDEX_SETTINGS: estypes.IndicesIndexSettings = {
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

function mappingOf(collection: KnowledgeCollection, dims: number | undefined): estypes.MappingTypeMapping {
  const schema = SCHEMA[collection];
  const properties: Record<string, estypes.MappingProperty> = {};
  for (const field of schema.keywords) properties[field] = { type: 'keyword' };
  for (const field of schema.texts) properties[field] = termsProperty();
  if (schema.vector && dims !== undefined) properties[schema.vector] = vectorProperty(dims);
  // A field that is not in this mapping is a bug in the writer, not a new field to guess a type for.
  return { dynamic: 'strict', properties };
}

const isZero = (v: Float32Array): boolean => v.every((x) => x === 0);

/**
 * Checks one vector and converts it for JSON. An all-zero vector has no direction, so cosine is
 * undefined and Elasticsearch rejects the document; such a document is stored without its vector
 * field, which also keeps it out of every kNN search (kNN only visits documents that have the field),
 * the way the embedded backend never returns it.
 */
function vectorField(v: Float32Array, dims: number): { ok: true; value?: number[] } | { ok: false; reason: string } {
  if (v.length !== dims) return { ok: false, reason: `vector has ${v.length} dimensions, the mapping has ${dims}` };
  if (!v.every(Number.isFinite)) return { ok: false, reason: 'vector holds NaN or Infinity' };
  return { ok: true, value: isZero(v) ? undefined : Array.from(v) };
}

/** A term field only when it has terms: the language-specific nodes have no `doc_terms` nor `catalog_terms`. */
const terms = (field: string, value: string | undefined): Record<string, string> => (value ? { [field]: value } : {});

function nodeDocument(n: IndexedNode, vector: number[] | undefined): Record<string, unknown> {
  return {
    id: n.id,
    cwe: n.cwe,
    // '' marks a language-neutral node; always written, so the `neutral` filter is one term query.
    language: n.language ?? '',
    text: n.text,
    api_text: n.apiText,
    ...terms('doc_terms', n.docTerms),
    ...terms('catalog_terms', n.catalogTerms),
    ...(vector ? { cause_vector: vector } : {}),
  };
}

function exampleDocument(e: IndexedExample, vector: number[] | undefined): Record<string, unknown> {
  return {
    id: e.id,
    node_id: e.nodeId,
    cwe: e.cwe,
    language: e.language,
    // As in the embedded backend: an example without a kind is a fix pair.
    kind: e.kind ?? 'fix',
    api_text: e.apiText,
    ...terms('code_text', e.codeText),
    ...(vector ? { code_vector: vector } : {}),
  };
}

function documentDocument(d: IndexedDocument): Record<string, unknown> {
  return { id: d.id, kind: d.kind, cwes: d.cwes, language: d.language ?? '', terms: d.terms };
}

function prepare<T extends { id: string }>(
  collection: KnowledgeCollection,
  items: T[],
  vector: { of: (item: T) => Float32Array; dims: number } | undefined,
  toDoc: (item: T, vector: number[] | undefined) => Record<string, unknown>,
): Prepared {
  const out: Prepared = { docs: [], withoutVector: 0, failures: [] };
  const seen = new Set<string>();
  for (const item of items) {
    const fail = (reason: string): void => {
      out.failures.push({ collection, id: item.id, type: 'invalid_document', reason });
    };
    if (!item.id) {
      fail('empty id');
      continue;
    }
    // The `_id` is the document id, so a duplicate would silently overwrite and fail the count check later.
    if (seen.has(item.id)) {
      fail('duplicate id');
      continue;
    }
    seen.add(item.id);
    let value: number[] | undefined;
    if (vector) {
      const checked = vectorField(vector.of(item), vector.dims);
      if (!checked.ok) {
        fail(checked.reason);
        continue;
      }
      if (!checked.value) out.withoutVector += 1;
      value = checked.value;
    }
    out.docs.push({ id: item.id, doc: toDoc(item, value) });
  }
  return out;
}

function describeFailures(failures: DocumentFailure[]): string {
  const named = failures
    .slice(0, FAILURES_IN_MESSAGE)
    .map((f) => `${f.collection}/${f.id}: ${f.status ?? '-'} ${f.type}: ${f.reason}`)
    .join('; ');
  const more = failures.length > FAILURES_IN_MESSAGE ? ` (and ${failures.length - FAILURES_IN_MESSAGE} more)` : '';
  return `${failures.length} document(s) failed: ${named}${more}`;
}

/** `2 nodes, 1 examples, 0 documents`. */
const describeCounts = (counts: Record<KnowledgeCollection, number | string>): string => COLLECTIONS.map((c) => `${counts[c]} ${c}`).join(', ');

const isNotFound = (err: unknown): boolean => err instanceof errors.ResponseError && err.statusCode === 404;

/** One entry per collection, in {@link COLLECTIONS} order. */
function perCollection<T>(make: (collection: KnowledgeCollection) => T): Record<KnowledgeCollection, T> {
  return { nodes: make('nodes'), examples: make('examples'), documents: make('documents') };
}

/**
 * The Elasticsearch knowledge index: three indices per KB version (`${prefix}-nodes-${version}`,
 * `${prefix}-examples-${version}`, `${prefix}-documents-${version}`) behind the aliases
 * `${prefix}-nodes`, `${prefix}-examples` and `${prefix}-documents`, with BM25 on the search-term
 * fields (split on whitespace only, as the embedded backend does) and cosine kNN on the vectors.
 * Mappings are owned here; {@link publish} builds a version and swaps the three aliases at once, and
 * the searches read the aliases (or the version given in the options).
 *
 * BM25 and kNN are separate requests: server-side RRF needs an Enterprise licence, so fusion is done
 * by the caller on the ranked lists.
 *
 * One publisher per prefix at a time (the indexer queue runs one KB build at a time): two concurrent
 * publishes would each swap the aliases from what they read before.
 */
export class ElasticsearchKnowledgeIndex implements KnowledgeIndexReader {
  private readonly bulkPolicy: Required<BulkPolicy>;
  private readonly numCandidates: (k: number) => number;
  private readonly sleep: (ms: number) => Promise<void>;
  /** What the searches read: the aliases, or one version's indices. */
  readonly target: KnowledgeIndexNames;
  /** The aliases a publish moves. */
  readonly aliases: KnowledgeIndexNames;

  /** @throws InvalidInputError for a prefix or version that cannot name an index, or a bulk policy out of range. */
  constructor(
    private readonly client: Client,
    private readonly options: ElasticsearchKnowledgeIndexOptions,
  ) {
    assertName('prefix', options.prefix);
    if (options.version !== undefined) assertName('version', options.version);
    this.bulkPolicy = { batchSize: 500, maxBatchBytes: 20 << 20, maxAttempts: 5, baseDelayMs: 200, maxDelayMs: 5000, ...options.bulk };
    for (const key of ['batchSize', 'maxBatchBytes', 'maxAttempts'] as const) {
      const value = this.bulkPolicy[key];
      if (!Number.isInteger(value) || value < 1) throw new InvalidInputError(`bulk.${key} must be a positive integer, got ${value}`);
    }
    this.numCandidates = options.numCandidates ?? ((k) => Math.max(k * 10, 100));
    this.sleep = options.sleep ?? ((ms) => delay(ms));
    this.aliases = perCollection((c) => `${options.prefix}-${c}`);
    this.target = options.version === undefined ? this.aliases : this.indicesOf(options.version);
  }

  /** The concrete index names of a KB version. */
  indicesOf(version: string): KnowledgeIndexNames {
    return perCollection((c) => `${this.options.prefix}-${c}-${version}`);
  }

  /** The version the aliases point at, or undefined before the first publish. */
  async liveVersion(): Promise<string | undefined> {
    const targets = await this.aliasTargets();
    return targets.nodes.length === 1 ? this.versionOfIndex(targets.nodes[0]) : undefined;
  }

  /**
   * Builds `version` from `index` (nodes, examples, documents) and makes it live:
   * 1. checks every document locally (ids, vector length, finite values) and sends nothing if one fails;
   * 2. creates the three indices with their mappings (dims from `options.dims`);
   * 3. bulk-indexes with `_id` = document id through `index` ops, so a rerun overwrites instead of
   *    duplicating; resends only the items answered 429, with exponential backoff, and records every
   *    other failed item; any failure fails the publish once all batches have been sent, so the error
   *    lists every bad document;
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
  async publish(version: string, index: IndexedKnowledge, options: PublishOptions): Promise<PublishResult> {
    assertName('version', version);
    const dims = typeof options.dims === 'number' ? { nodes: options.dims, examples: options.dims } : options.dims;
    assertDims(dims.nodes);
    assertDims(dims.examples);
    const keep = options.keep ?? 3;
    if (!Number.isInteger(keep) || keep < 1) throw new InvalidInputError(`keep must be a positive integer, got ${keep}`);
    for (const c of COLLECTIONS) {
      if (!Array.isArray(index?.[c])) throw new InvalidInputError(`publish of ${version}: the index has no ${c} list`);
    }

    const prepared: Record<KnowledgeCollection, Prepared> = {
      nodes: prepare('nodes', index.nodes, { of: (n) => n.causeVector, dims: dims.nodes }, nodeDocument),
      examples: prepare('examples', index.examples, { of: (e) => e.codeVector, dims: dims.examples }, exampleDocument),
      documents: prepare('documents', index.documents, undefined, documentDocument),
    };
    const invalid = COLLECTIONS.flatMap((c) => prepared[c].failures);
    if (invalid.length > 0) throw new KnowledgeIndexPublishError(version, 'validate', describeFailures(invalid), invalid);
    const expected = perCollection((c) => prepared[c].docs.length);

    const names = this.indicesOf(version);
    const all = COLLECTIONS.map((c) => names[c]);
    let previous: AliasTargets;
    try {
      previous = await this.aliasTargets();
    } catch (err) {
      throw new KnowledgeIndexPublishError(version, 'prepare', 'could not read the aliases', [], { cause: err });
    }
    const previousVersion = previous.nodes.length === 1 ? this.versionOfIndex(previous.nodes[0]) : undefined;
    const withoutVector = { nodes: prepared.nodes.withoutVector, examples: prepared.examples.withoutVector };
    const base = { version, previousVersion, withoutVector };

    const live = COLLECTIONS.filter((c) => previous[c].includes(names[c]));
    if (live.length > 0) {
      // Rebuilding in place would delete what readers are using; deleting an index drops its aliases.
      if (live.length < COLLECTIONS.length) throw new KnowledgeIndexPublishError(version, 'prepare', `only its ${live.join(' and ')} ${live.length === 1 ? 'index is' : 'indices are'} live; fix the aliases by hand`, [], { kind: 'invalid-input' });
      let counts: Record<KnowledgeCollection, number>;
      try {
        counts = await this.countsOf(names);
      } catch (err) {
        throw new KnowledgeIndexPublishError(version, 'prepare', 'could not count the live version', [], { cause: err });
      }
      if (COLLECTIONS.some((c) => counts[c] !== expected[c])) {
        // A rerun sends the same content to the same version: only a new version can succeed.
        throw new KnowledgeIndexPublishError(version, 'prepare', `version is live with ${describeCounts(counts)}, not ${describeCounts(expected)}; publish under a new version`, [], { kind: 'invalid-input' });
      }
      // Still prune: the run that made it live may have crashed before doing so.
      return { ...base, alreadyLive: true, indexed: counts, retried: 0, ...(await this.pruneQuietly(keep, version)) };
    }

    let stage: PublishStage = 'prepare';
    // False only when the swap's outcome is unknown: the new indices may be live, and deleting them would take the KB offline.
    let deleteOnFailure = true;
    let retried = 0;
    try {
      await this.client.indices.delete({ index: all, ignore_unavailable: true });
      stage = 'create';
      for (const c of COLLECTIONS) {
        await this.client.indices.create({ index: names[c], settings: INDEX_SETTINGS, mappings: mappingOf(c, c === 'documents' ? undefined : dims[c]) });
      }

      stage = 'bulk';
      const failed: DocumentFailure[] = [];
      for (const c of COLLECTIONS) {
        const outcome = await this.indexAll(c, names[c], prepared[c].docs);
        retried += outcome.retried;
        failed.push(...outcome.failures);
      }
      if (failed.length > 0) throw new KnowledgeIndexPublishError(version, 'bulk', describeFailures(failed), failed);

      // Once, here: refreshing per batch would make every bulk request pay for a new segment.
      stage = 'refresh';
      await this.client.indices.refresh({ index: all });

      stage = 'verify';
      const counts = await this.countsOf(names);
      if (COLLECTIONS.some((c) => counts[c] !== expected[c])) {
        throw new KnowledgeIndexPublishError(version, 'verify', `indexed ${describeCounts(perCollection((c) => `${counts[c]}/${expected[c]}`))}`);
      }

      stage = 'swap';
      try {
        await this.swapAliases(previous, names);
      } catch (err) {
        const outcome = await this.swapOutcome(err, names);
        if (outcome !== 'applied') {
          deleteOnFailure = outcome === 'refused';
          throw err;
        }
      }
    } catch (err) {
      const failure = err instanceof KnowledgeIndexPublishError ? err : new KnowledgeIndexPublishError(version, stage, errorMessage(err), [], { cause: err });
      if (deleteOnFailure) {
        try {
          await this.client.indices.delete({ index: all, ignore_unavailable: true });
        } catch (cleanupError) {
          failure.cleanupError = cleanupError;
        }
      }
      throw failure;
    }

    return { ...base, alreadyLive: false, indexed: expected, retried, ...(await this.pruneQuietly(keep, version)) };
  }

  /** Pruning runs after the version is live, so its failure is reported, not thrown: the publish did succeed. */
  private async pruneQuietly(keep: number, live: string): Promise<Pick<PublishResult, 'deletedVersions' | 'pruneError'>> {
    try {
      return { deletedVersions: await this.prune(keep, live) };
    } catch (err) {
      return { deletedVersions: [], pruneError: err };
    }
  }

  /**
   * BM25 of `query` (search terms, any number; a document matching any scores) over one term field of
   * a collection, with the filter applied as non-scoring clauses. Hits carry the CWE(s), the language
   * and, for examples, the node; best first, at most `k`.
   *
   * @throws InvalidInputError when the collection has no such field, the filter names a field the
   *   collection lacks (`kind` on nodes, `nodeIds` on documents), or `k` is not a whole number.
   */
  async searchText(collection: SearchCollection, field: TextField, query: string, k: number, filter?: SearchFilter): Promise<TextHit[]> {
    const schema = schemaOf(collection);
    if (!schema.texts.includes(field)) throw new InvalidInputError(`${collection} have no text field ${JSON.stringify(field)}; they have ${schema.texts.join(', ')}`);
    assertK(k);
    const filters = filtersFor(collection, filter);
    // The embedded backend drops everything but letters, digits and '_' from a query, so `os.system`
    // searches `os` and `system` there; the same here, or the whitespace analyzer would keep it whole.
    const q = query.replace(/[^\p{L}\p{N}_\s]/gu, ' ').replace(/\s+/g, ' ').trim();
    if (!q || k === 0 || filters === NO_MATCH) return [];
    const match: estypes.QueryDslQueryContainer = { match: { [field]: { query: q, operator: 'or' } } };
    const response = await this.client.search<HitSource>({
      index: this.target[collection],
      size: Math.min(k, MAX_RESULT_WINDOW),
      _source: [...schema.hitFields],
      // Only the ranking is used; counting every match would cost a full pass.
      track_total_hits: false,
      query: filters.length > 0 ? { bool: { must: [match], filter: filters } } : match,
    });
    return best(response.hits.hits.flatMap((h) => (h._id !== undefined && typeof h._score === 'number' ? [toTextHit(h._id, h._score, h._source)] : [])), k);
  }

  /**
   * Nearest nodes (by cause vector) or examples (by code vector), cosine similarity as the score, the
   * filter applied during the graph search. A zero vector has no direction and matches nothing.
   *
   * @throws InvalidInputError for a collection without vectors, a vector holding NaN or Infinity, a
   *   filter naming a field the collection lacks, or a `k` that is not a whole number.
   */
  async searchVector(collection: VectorCollection, vector: Float32Array, k: number, filter?: SearchFilter): Promise<TextHit[]> {
    const schema = schemaOf(collection);
    if (!schema.vector) throw new InvalidInputError(`${collection} have no vectors; vector search runs on nodes and examples`);
    assertK(k);
    const filters = filtersFor(collection, filter);
    // ES rejects a zero query vector for cosine; it has no direction, so it matches nothing (as in the embedded backend).
    if (k === 0 || filters === NO_MATCH || isZero(vector)) return [];
    if (!vector.every(Number.isFinite)) throw new InvalidInputError('query vector holds NaN or Infinity');
    const kk = Math.min(k, MAX_KNN);
    const numCandidates = Math.min(Math.max(this.numCandidates(kk), kk), MAX_KNN);
    const response = await this.client.search<HitSource>({
      index: this.target[collection],
      size: kk,
      _source: [...schema.hitFields],
      track_total_hits: false,
      // A kNN `filter` is applied during the graph search, so k hits come back even when the filter is selective.
      knn: { field: schema.vector, query_vector: Array.from(vector), k: kk, num_candidates: numCandidates, ...(filters.length > 0 ? { filter: filters } : {}) },
    });
    return best(response.hits.hits.flatMap((h) => (h._id !== undefined && typeof h._score === 'number' ? [toTextHit(h._id, cosineFromScore(h._score), h._source)] : [])), kk);
  }

  /** Documents in the three indices being read. */
  async counts(): Promise<Record<KnowledgeCollection, number>> {
    return this.countsOf(this.target);
  }

  private async countsOf(names: KnowledgeIndexNames): Promise<Record<KnowledgeCollection, number>> {
    const counts = await Promise.all(COLLECTIONS.map((c) => this.client.count({ index: names[c] })));
    return perCollection((c) => counts[COLLECTIONS.indexOf(c)].count);
  }

  private async indexAll(collection: KnowledgeCollection, index: string, docs: PreparedDocument[]): Promise<BulkOutcome> {
    const outcome: BulkOutcome = { failures: [], retried: 0 };
    for (const docsOfBatch of this.batches(docs)) {
      const batch = await this.indexBatch(collection, index, docsOfBatch);
      outcome.failures.push(...batch.failures);
      outcome.retried += batch.retried;
    }
    return outcome;
  }

  /** Consecutive batches of at most `batchSize` documents and, unless one document alone is larger, `maxBatchBytes`. */
  private *batches(docs: PreparedDocument[]): Generator<PreparedDocument[]> {
    const { batchSize, maxBatchBytes } = this.bulkPolicy;
    let batch: PreparedDocument[] = [];
    let bytes = 0;
    for (const d of docs) {
      // The action line and the document line, each newline-terminated, as the client sends them.
      const size = Buffer.byteLength(JSON.stringify({ index: { _id: d.id } })) + Buffer.byteLength(JSON.stringify(d.doc)) + 2;
      if (batch.length > 0 && (batch.length >= batchSize || bytes + size > maxBatchBytes)) {
        yield batch;
        batch = [];
        bytes = 0;
      }
      batch.push(d);
      bytes += size;
    }
    if (batch.length > 0) yield batch;
  }

  /**
   * One batch, resending only the items answered 429 (the node's write queue was full: the same item
   * will succeed later). Every other failed item (mapping, parsing, dims) would fail the same way again,
   * so it is recorded, not resent. A bulk response is HTTP 200 even when items failed, hence the
   * per-item check.
   */
  private async indexBatch(collection: KnowledgeCollection, index: string, batch: PreparedDocument[]): Promise<BulkOutcome> {
    const outcome: BulkOutcome = { failures: [], retried: 0 };
    let pending = batch;
    for (let attempt = 1; pending.length > 0; attempt += 1) {
      const throttled: { item: PreparedDocument; error?: estypes.ErrorCause }[] = [];
      try {
        const response = await this.client.bulk({ index, operations: pending.flatMap((d) => [{ index: { _id: d.id } }, d.doc]) });
        if (response.items.length !== pending.length) throw new TransientUpstreamError(`bulk answered ${response.items.length} items for ${pending.length} operations`);
        response.items.forEach((entry, i) => {
          const item = pending[i];
          const result = entry.index;
          if (!result) {
            outcome.failures.push({ collection, id: item.id, type: 'unexpected_response', reason: `no index result for the item: ${JSON.stringify(entry)}` });
          } else if (result.status === 429) {
            throttled.push({ item, error: result.error });
          } else if (result.error || result.status >= 300) {
            outcome.failures.push({ collection, id: item.id, status: result.status, type: result.error?.type ?? 'unknown', reason: result.error?.reason ?? `status ${result.status}` });
          }
        });
      } catch (err) {
        // The whole request can be refused with 429 too (the coordinating node is overloaded): same remedy.
        if (!(err instanceof errors.ResponseError && err.statusCode === 429)) throw err;
        throttled.push(...pending.map((item) => ({ item })));
      }
      if (throttled.length > 0 && attempt >= this.bulkPolicy.maxAttempts) {
        for (const t of throttled) {
          outcome.failures.push({
            collection,
            id: t.item.id,
            status: 429,
            type: t.error?.type ?? 'too_many_requests',
            reason: `still throttled after ${attempt} attempts${t.error?.reason ? `: ${t.error.reason}` : ''}`,
          });
        }
        break;
      }
      if (throttled.length > 0) {
        outcome.retried += throttled.length;
        await this.sleep(Math.min(this.bulkPolicy.baseDelayMs * 2 ** (attempt - 1), this.bulkPolicy.maxDelayMs));
      }
      pending = throttled.map((t) => t.item);
    }
    return outcome;
  }

  private async aliasTargets(): Promise<AliasTargets> {
    const targets = await Promise.all(COLLECTIONS.map((c) => this.indicesBehind(this.aliases[c])));
    return perCollection((c) => targets[COLLECTIONS.indexOf(c)]);
  }

  private async indicesBehind(alias: string): Promise<string[]> {
    try {
      return Object.keys(await this.client.indices.getAlias({ name: alias })).sort();
    } catch (err) {
      // No alias yet: the first publish (or, for documents, the first since the collection was added).
      if (isNotFound(err)) return [];
      throw err;
    }
  }

  /** Removes each alias from exactly the indices it was read on (a remove of a missing alias fails the whole request). */
  private async swapAliases(previous: AliasTargets, names: KnowledgeIndexNames): Promise<void> {
    const actions: estypes.IndicesUpdateAliasesAction[] = [
      ...COLLECTIONS.flatMap((c) => previous[c].map((index) => ({ remove: { index, alias: this.aliases[c] } }))),
      ...COLLECTIONS.map((c) => ({ add: { index: names[c], alias: this.aliases[c] } })),
    ];
    await this.client.indices.updateAliases({ actions });
  }

  /**
   * What a swap that threw actually did. A 4xx answer means ES refused the atomic `_aliases` request
   * as a whole. Without an answer (timeout, reset) or with a 5xx (a master task can still be queued)
   * it may have been applied, so read the aliases back. If the new indices are deleted after that
   * read, a late swap fails as a whole too, since its `add` names a missing index.
   */
  private async swapOutcome(err: unknown, names: KnowledgeIndexNames): Promise<'applied' | 'refused' | 'unknown'> {
    if (err instanceof errors.ResponseError && err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) return 'refused';
    try {
      return (await this.isLive(names)) ? 'applied' : 'refused';
    } catch (_readBackError) {
      // Whatever stopped the read-back, the outcome is unknown; the caller rethrows the swap's own error.
      return 'unknown';
    }
  }

  private async isLive(names: KnowledgeIndexNames): Promise<boolean> {
    const now = await this.aliasTargets();
    return COLLECTIONS.every((c) => now[c].length === 1 && now[c][0] === names[c]);
  }

  /** Deletes versions beyond the newest `keep` (by creation time of their indices), never `live`. */
  private async prune(keep: number, live: string): Promise<string[]> {
    const { prefix } = this.options;
    // A version published before the documents collection existed has no documents index; the wildcard matches none then.
    const settings = await this.client.indices.getSettings({ index: COLLECTIONS.map((c) => `${prefix}-${c}-*`), name: 'index.creation_date' });
    const versions = new Map<string, { created: number; indices: string[] }>();
    for (const [index, state] of Object.entries(settings)) {
      const version = this.versionOfIndex(index);
      if (version === undefined) continue;
      const created = Number(state.settings?.index?.creation_date ?? 0);
      const entry = versions.get(version) ?? { created: 0, indices: [] };
      entry.created = Math.max(entry.created, created);
      entry.indices.push(index);
      versions.set(version, entry);
    }
    const doomed = [...versions.entries()]
      .sort((a, b) => b[1].created - a[1].created || (a[0] < b[0] ? 1 : -1))
      .slice(keep)
      .filter(([version]) => version !== live);
    if (doomed.length === 0) return [];
    // Explicit names: `action.destructive_requires_name` (default true in 8.x) refuses wildcard deletes.
    await this.client.indices.delete({ index: doomed.flatMap(([, v]) => v.indices.sort()) });
    return doomed.map(([version]) => version);
  }

  private versionOfIndex(index: string): string | undefined {
    for (const c of COLLECTIONS) {
      const head = `${this.options.prefix}-${c}-`;
      if (index.startsWith(head) && index.length > head.length) return index.slice(head.length);
    }
    return undefined;
  }
}

function schemaOf(collection: string): CollectionSchema {
  if (!Object.hasOwn(SCHEMA, collection)) throw new InvalidInputError(`unknown collection ${JSON.stringify(collection)}; the collections are ${COLLECTIONS.join(', ')}`);
  return SCHEMA[collection as KnowledgeCollection];
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

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
