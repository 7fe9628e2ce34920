import { setTimeout as delay } from 'node:timers/promises';
import { Client, errors, estypes } from '@elastic/elasticsearch';
import type { KnowledgeIndexReader } from './knowledge-index';
import type { Hit, IndexedExample, IndexedNode, SearchFilter } from './lance-knowledge-index';

/** `DenseVectorFieldMapper.MAX_DIMS_COUNT` in Elasticsearch 8.x. */
const MAX_DIMS = 4096;
/** Elasticsearch caps both `k` and `num_candidates` of a kNN search at 10,000. */
const MAX_KNN = 10_000;
/** The custom analyzer of the `api_text` fields. */
const API_ANALYZER = 'api_names';
/** How many failures an error message names; the full list is on the error. */
const FAILURES_IN_MESSAGE = 5;

/** Which of the two document collections of a KB version. */
export type KnowledgeCollection = 'nodes' | 'examples';

/** The two indices (or aliases) a KB version is read from. */
export interface KnowledgeIndexNames {
  nodes: string;
  examples: string;
}

/** How {@link ElasticsearchKnowledgeIndex.publish} sends its bulk requests and retries throttled items. */
export interface BulkPolicy {
  /** Documents per bulk request (default 500: a few MB with 384-dim vectors, well under the "tens of MB" ES advises). */
  batchSize?: number;
  /** Sends of one item in all, the first included, before a 429 becomes a failure (default 5). */
  maxAttempts?: number;
  /** Wait before the first resend; doubles each time (default 200 ms). */
  baseDelayMs?: number;
  /** Upper bound of one wait (default 5000 ms). */
  maxDelayMs?: number;
}

/** Options of {@link ElasticsearchKnowledgeIndex}. */
export interface ElasticsearchKnowledgeIndexOptions {
  /** Names every index and alias: `${prefix}-nodes`, `${prefix}-nodes-${version}`, and the same for examples. */
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
   * the index. A number applies to both collections.
   */
  dims: number | { nodes: number; examples: number };
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
  indexed: { nodes: number; examples: number };
  /** Documents stored without their vector because it was all zeros (they never match a kNN search). */
  withoutVector: { nodes: number; examples: number };
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
 */
export class KnowledgeIndexPublishError extends Error {
  override readonly name = 'KnowledgeIndexPublishError';
  /** Set when deleting the half-written indices failed too. */
  cleanupError?: unknown;

  constructor(
    readonly version: string,
    readonly stage: PublishStage,
    message: string,
    /** Every failed document, in request order (for a dead-letter list). */
    readonly failures: DocumentFailure[] = [],
    options?: { cause?: unknown },
  ) {
    super(`publish of KB version ${version} failed (${stage}): ${message}`, options);
  }
}

interface NodeDocument {
  id: string;
  cwe: string;
  language: string;
  text: string;
  api_text: string;
  cause_vector?: number[];
}

interface ExampleDocument {
  id: string;
  node_id: string;
  cwe: string;
  language: string;
  api_text: string;
  code_text?: string;
  code_vector?: number[];
}

interface Prepared<T> {
  docs: { id: string; doc: T }[];
  withoutVector: number;
  failures: DocumentFailure[];
}

interface BulkOutcome {
  failures: DocumentFailure[];
  retried: number;
}

/** Aliases' current indices; normally one each, but an alias edited by hand can hold several. */
interface AliasTargets {
  nodes: string[];
  examples: string[];
}

/**
 * Narrower than ES's index name rules (lowercase, none of `\ / * ? " < > | , # :` or space), which
 * also keeps `*` and `,` out of names that end up in delete requests.
 */
const NAME = /^[a-z0-9][a-z0-9._-]*$/;

function assertName(what: string, value: string): void {
  if (!NAME.test(value) || value.length > 200) {
    throw new RangeError(`${what} must be lowercase letters, digits, '.', '_' or '-' (at most 200), got ${JSON.stringify(value)}`);
  }
}

function assertDims(dims: number): void {
  if (!Number.isInteger(dims) || dims < 1 || dims > MAX_DIMS) throw new RangeError(`dims must be an integer in 1..${MAX_DIMS}, got ${dims}`);
}

/**
 * API names are identifiers: `os.system`, `std::strcpy`, `strcpy_s`. The standard tokenizer keeps
 * `os.system` as one token (UAX #29 does not break letters around '.'), so a query for `system`
 * would miss it. Split on whitespace and the separators of qualified names instead, and lowercase,
 * which matches how the KB writes `api_text` (dots to spaces, lowercased). No stemming: `strcpy`
 * and `strcpys` are different functions.
 */
const INDEX_SETTINGS: estypes.IndicesIndexSettings = {
  analysis: {
    tokenizer: { [API_ANALYZER]: { type: 'char_group', tokenize_on_chars: ['whitespace', '.', ',', ';', ':', '(', ')', '[', ']'] } },
    analyzer: { [API_ANALYZER]: { type: 'custom', tokenizer: API_ANALYZER, filter: ['lowercase'] } },
  },
};

/**
 * `index_options: hnsw` keeps float vectors. Recent 8.x releases default new float fields to a
 * quantised HNSW, whose scores are approximations: the cosine recovered from `_score` would no longer
 * match the embedded backend, and small KBs gain nothing from the memory saved.
 */
function vectorProperty(dims: number): estypes.MappingDenseVectorProperty {
  return { type: 'dense_vector', dims, similarity: 'cosine', index: true, index_options: { type: 'hnsw' } };
}

function nodesMapping(dims: number): estypes.MappingTypeMapping {
  return {
    // A field that is not in this mapping is a bug in the writer, not a new field to guess a type for.
    dynamic: 'strict',
    properties: {
      id: { type: 'keyword' },
      cwe: { type: 'keyword' },
      language: { type: 'keyword' },
      text: { type: 'text' },
      api_text: { type: 'text', analyzer: API_ANALYZER },
      cause_vector: vectorProperty(dims),
    },
  };
}

function examplesMapping(dims: number): estypes.MappingTypeMapping {
  return {
    dynamic: 'strict',
    properties: {
      id: { type: 'keyword' },
      node_id: { type: 'keyword' },
      cwe: { type: 'keyword' },
      language: { type: 'keyword' },
      api_text: { type: 'text', analyzer: API_ANALYZER },
      // The sliced code of both versions: the CWE-level `examples` facet (BM25 of the task's code).
      code_text: { type: 'text' },
      code_vector: vectorProperty(dims),
    },
  };
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

function prepare<T extends { id: string }, D>(
  collection: KnowledgeCollection,
  items: T[],
  vectorOf: (item: T) => Float32Array,
  dims: number,
  toDoc: (item: T, vector: number[] | undefined) => D,
): Prepared<D> {
  const out: Prepared<D> = { docs: [], withoutVector: 0, failures: [] };
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
    const vector = vectorField(vectorOf(item), dims);
    if (!vector.ok) {
      fail(vector.reason);
      continue;
    }
    if (!vector.value) out.withoutVector += 1;
    out.docs.push({ id: item.id, doc: toDoc(item, vector.value) });
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

const isNotFound = (err: unknown): boolean => err instanceof errors.ResponseError && err.statusCode === 404;

/**
 * The Elasticsearch knowledge index: one pair of indices per KB version
 * (`${prefix}-nodes-${version}`, `${prefix}-examples-${version}`) behind the aliases
 * `${prefix}-nodes` and `${prefix}-examples`, with BM25 on the text fields and cosine kNN on the
 * vectors. Mappings are owned here; {@link publish} builds a version and swaps both aliases at once,
 * and the searches read the aliases (or the version given in the options).
 *
 * BM25 and kNN are separate requests: server-side RRF needs an Enterprise licence, so fusion is done
 * by the caller on the two ranked lists.
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

  constructor(
    private readonly client: Client,
    private readonly options: ElasticsearchKnowledgeIndexOptions,
  ) {
    assertName('prefix', options.prefix);
    if (options.version !== undefined) assertName('version', options.version);
    this.bulkPolicy = { batchSize: 500, maxAttempts: 5, baseDelayMs: 200, maxDelayMs: 5000, ...options.bulk };
    if (!Number.isInteger(this.bulkPolicy.batchSize) || this.bulkPolicy.batchSize < 1) throw new RangeError('bulk.batchSize must be a positive integer');
    if (!Number.isInteger(this.bulkPolicy.maxAttempts) || this.bulkPolicy.maxAttempts < 1) throw new RangeError('bulk.maxAttempts must be a positive integer');
    this.numCandidates = options.numCandidates ?? ((k) => Math.max(k * 10, 100));
    this.sleep = options.sleep ?? ((ms) => delay(ms));
    this.aliases = { nodes: `${options.prefix}-nodes`, examples: `${options.prefix}-examples` };
    this.target = options.version === undefined ? this.aliases : this.indicesOf(options.version);
  }

  /** The concrete index names of a KB version. */
  indicesOf(version: string): KnowledgeIndexNames {
    return { nodes: `${this.options.prefix}-nodes-${version}`, examples: `${this.options.prefix}-examples-${version}` };
  }

  /** The version the aliases point at, or undefined before the first publish. */
  async liveVersion(): Promise<string | undefined> {
    const targets = await this.aliasTargets();
    return targets.nodes.length === 1 ? this.versionOfIndex(targets.nodes[0]) : undefined;
  }

  /**
   * Builds `version` and makes it live:
   * 1. checks every document locally (ids, vector length, finite values) and sends nothing if one fails;
   * 2. creates both indices with their mappings (dims from `options.dims`);
   * 3. bulk-indexes with `_id` = document id through `index` ops, so a rerun overwrites instead of
   *    duplicating; resends only the items answered 429, with exponential backoff, and records every
   *    other failed item; any failure fails the publish once all batches have been sent, so the error
   *    lists every bad document;
   * 4. refreshes once, then checks the document counts;
   * 5. moves both aliases in one `_aliases` request (atomic: readers see the old version or the new one);
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
   */
  async publish(version: string, nodes: IndexedNode[], examples: IndexedExample[], options: PublishOptions): Promise<PublishResult> {
    assertName('version', version);
    const dims = typeof options.dims === 'number' ? { nodes: options.dims, examples: options.dims } : options.dims;
    assertDims(dims.nodes);
    assertDims(dims.examples);
    const keep = options.keep ?? 3;
    if (!Number.isInteger(keep) || keep < 1) throw new RangeError(`keep must be a positive integer, got ${keep}`);

    const nodeDocs = prepare<IndexedNode, NodeDocument>('nodes', nodes, (n) => n.causeVector, dims.nodes, (n, v) => ({
      id: n.id,
      cwe: n.cwe,
      language: n.language,
      text: n.text,
      api_text: n.apiText,
      ...(v ? { cause_vector: v } : {}),
    }));
    const exampleDocs = prepare<IndexedExample, ExampleDocument>('examples', examples, (e) => e.codeVector, dims.examples, (e, v) => ({
      id: e.id,
      node_id: e.nodeId,
      cwe: e.cwe,
      language: e.language,
      api_text: e.apiText,
      ...(e.codeText ? { code_text: e.codeText } : {}),
      ...(v ? { code_vector: v } : {}),
    }));
    const invalid = [...nodeDocs.failures, ...exampleDocs.failures];
    if (invalid.length > 0) throw new KnowledgeIndexPublishError(version, 'validate', describeFailures(invalid), invalid);

    const names = this.indicesOf(version);
    let previous: AliasTargets;
    try {
      previous = await this.aliasTargets();
    } catch (err) {
      throw new KnowledgeIndexPublishError(version, 'prepare', 'could not read the aliases', [], { cause: err });
    }
    const previousVersion = previous.nodes.length === 1 ? this.versionOfIndex(previous.nodes[0]) : undefined;
    const withoutVector = { nodes: nodeDocs.withoutVector, examples: exampleDocs.withoutVector };
    const base = { version, previousVersion, withoutVector };

    const liveNodes = previous.nodes.includes(names.nodes);
    const liveExamples = previous.examples.includes(names.examples);
    if (liveNodes || liveExamples) {
      // Rebuilding in place would delete what readers are using; deleting an index drops its aliases.
      if (!(liveNodes && liveExamples)) throw new KnowledgeIndexPublishError(version, 'prepare', 'only one of its indices is live; fix the aliases by hand');
      let counts: { nodes: number; examples: number };
      try {
        counts = await this.countsOf(names);
      } catch (err) {
        throw new KnowledgeIndexPublishError(version, 'prepare', 'could not count the live version', [], { cause: err });
      }
      if (counts.nodes !== nodeDocs.docs.length || counts.examples !== exampleDocs.docs.length) {
        throw new KnowledgeIndexPublishError(
          version,
          'prepare',
          `version is live with ${counts.nodes} nodes and ${counts.examples} examples, not ${nodeDocs.docs.length} and ${exampleDocs.docs.length}; publish under a new version`,
        );
      }
      // Still prune: the run that made it live may have crashed before doing so.
      return { ...base, alreadyLive: true, indexed: counts, retried: 0, ...(await this.pruneQuietly(keep, version)) };
    }

    let stage: PublishStage = 'prepare';
    // False only when the swap's outcome is unknown: the new indices may be live, and deleting them would take the KB offline.
    let deleteOnFailure = true;
    let retried = 0;
    try {
      await this.client.indices.delete({ index: [names.nodes, names.examples], ignore_unavailable: true });
      stage = 'create';
      await this.client.indices.create({ index: names.nodes, settings: INDEX_SETTINGS, mappings: nodesMapping(dims.nodes) });
      await this.client.indices.create({ index: names.examples, settings: INDEX_SETTINGS, mappings: examplesMapping(dims.examples) });

      stage = 'bulk';
      const outcomes = [await this.indexAll('nodes', names.nodes, nodeDocs.docs), await this.indexAll('examples', names.examples, exampleDocs.docs)];
      retried = outcomes.reduce((sum, o) => sum + o.retried, 0);
      const failed = outcomes.flatMap((o) => o.failures);
      if (failed.length > 0) throw new KnowledgeIndexPublishError(version, 'bulk', describeFailures(failed), failed);

      // Once, here: refreshing per batch would make every bulk request pay for a new segment.
      stage = 'refresh';
      await this.client.indices.refresh({ index: [names.nodes, names.examples] });

      stage = 'verify';
      const counts = await this.countsOf(names);
      if (counts.nodes !== nodeDocs.docs.length || counts.examples !== exampleDocs.docs.length) {
        throw new KnowledgeIndexPublishError(
          version,
          'verify',
          `indexed ${counts.nodes}/${nodeDocs.docs.length} nodes and ${counts.examples}/${exampleDocs.docs.length} examples`,
        );
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
          await this.client.indices.delete({ index: [names.nodes, names.examples], ignore_unavailable: true });
        } catch (cleanupError) {
          failure.cleanupError = cleanupError;
        }
      }
      throw failure;
    }

    return {
      ...base,
      alreadyLive: false,
      indexed: { nodes: nodeDocs.docs.length, examples: exampleDocs.docs.length },
      retried,
      ...(await this.pruneQuietly(keep, version)),
    };
  }

  /** Pruning runs after the version is live, so its failure is reported, not thrown: the publish did succeed. */
  private async pruneQuietly(keep: number, live: string): Promise<Pick<PublishResult, 'deletedVersions' | 'pruneError'>> {
    try {
      return { deletedVersions: await this.prune(keep, live) };
    } catch (err) {
      return { deletedVersions: [], pruneError: err };
    }
  }

  /** BM25 over one node text field, filtered by language (plus language-neutral nodes), CWE and node ids. */
  async searchNodesText(query: string, column: 'text' | 'api_text', k: number, filter?: SearchFilter): Promise<Hit[]> {
    return this.bm25(this.target.nodes, column, query, k, nodeFilters(filter));
  }

  /** Cosine kNN over node cause vectors. */
  async searchNodesVector(vector: Float32Array, k: number, filter?: SearchFilter): Promise<Hit[]> {
    return this.knn(this.target.nodes, 'cause_vector', vector, k, nodeFilters(filter));
  }

  /** BM25 over example API names, filtered by language, CWE and node ids. */
  async searchExamplesApi(query: string, k: number, filter?: SearchFilter): Promise<Hit[]> {
    return this.bm25(this.target.examples, 'api_text', query, k, exampleFilters(filter));
  }

  /** Cosine kNN over example code vectors. */
  async searchExamplesVector(vector: Float32Array, k: number, filter?: SearchFilter): Promise<Hit[]> {
    return this.knn(this.target.examples, 'code_vector', vector, k, exampleFilters(filter));
  }

  /**
   * CWE nodes ranked by their best example under BM25 over the examples' code (the `examples`
   * facet), as the embedded backend does: the first hit of each node gives its rank and score.
   */
  async searchNodesByExampleCode(query: string, k: number, filter?: SearchFilter): Promise<Hit[]> {
    const filters = exampleFilters(filter ? { language: filter.language } : undefined);
    if (!query.trim() || k <= 0 || filters === NO_MATCH) return [];
    const match: estypes.QueryDslQueryContainer = { match: { code_text: { query } } };
    const response = await this.client.search<{ node_id?: string }>({
      index: this.target.examples,
      size: k,
      _source: ['node_id'],
      track_total_hits: false,
      query: filters.length > 0 ? { bool: { must: [match], filter: filters } } : match,
    });
    const seen = new Set<string>();
    const hits: Hit[] = [];
    for (const h of response.hits.hits) {
      const node = h._source?.node_id;
      if (typeof node !== 'string' || typeof h._score !== 'number' || seen.has(node)) continue;
      seen.add(node);
      hits.push({ id: node, score: h._score });
    }
    return hits;
  }

  /** Documents in the nodes and examples indices being read. */
  async counts(): Promise<{ nodes: number; examples: number }> {
    return this.countsOf(this.target);
  }

  private async bm25(index: string, field: string, query: string, k: number, filters: Filters): Promise<Hit[]> {
    if (!query.trim() || k <= 0 || filters === NO_MATCH) return [];
    const match: estypes.QueryDslQueryContainer = { match: { [field]: { query } } };
    const response = await this.client.search({
      index,
      size: k,
      _source: false,
      // Only the ranking is used; counting every match would cost a full pass.
      track_total_hits: false,
      query: filters.length > 0 ? { bool: { must: [match], filter: filters } } : match,
    });
    return response.hits.hits.flatMap((h) => (h._id !== undefined && typeof h._score === 'number' ? [{ id: h._id, score: h._score }] : []));
  }

  private async knn(index: string, field: string, vector: Float32Array, k: number, filters: Filters): Promise<Hit[]> {
    // ES rejects a zero query vector for cosine; it has no direction, so it matches nothing (as in the embedded backend).
    if (k <= 0 || filters === NO_MATCH || isZero(vector)) return [];
    if (!vector.every(Number.isFinite)) throw new RangeError('query vector holds NaN or Infinity');
    const kk = Math.min(k, MAX_KNN);
    const numCandidates = Math.min(Math.max(this.numCandidates(kk), kk), MAX_KNN);
    const response = await this.client.search({
      index,
      size: kk,
      _source: false,
      track_total_hits: false,
      // A kNN `filter` is applied during the graph search, so k hits come back even when the filter is selective.
      knn: { field, query_vector: Array.from(vector), k: kk, num_candidates: numCandidates, ...(filters.length > 0 ? { filter: filters } : {}) },
    });
    return response.hits.hits.flatMap((h) => (h._id !== undefined && typeof h._score === 'number' ? [{ id: h._id, score: cosineFromScore(h._score) }] : []));
  }

  private async countsOf(names: KnowledgeIndexNames): Promise<{ nodes: number; examples: number }> {
    const [nodes, examples] = await Promise.all([this.client.count({ index: names.nodes }), this.client.count({ index: names.examples })]);
    return { nodes: nodes.count, examples: examples.count };
  }

  private async indexAll<D>(collection: KnowledgeCollection, index: string, docs: { id: string; doc: D }[]): Promise<BulkOutcome> {
    const outcome: BulkOutcome = { failures: [], retried: 0 };
    for (let start = 0; start < docs.length; start += this.bulkPolicy.batchSize) {
      const batch = await this.indexBatch(collection, index, docs.slice(start, start + this.bulkPolicy.batchSize));
      outcome.failures.push(...batch.failures);
      outcome.retried += batch.retried;
    }
    return outcome;
  }

  /**
   * One batch, resending only the items answered 429 (the node's write queue was full: the same item
   * will succeed later). Every other failed item (mapping, parsing, dims) would fail the same way again,
   * so it is recorded, not resent. A bulk response is HTTP 200 even when items failed, hence the
   * per-item check.
   */
  private async indexBatch<D>(collection: KnowledgeCollection, index: string, batch: { id: string; doc: D }[]): Promise<BulkOutcome> {
    const outcome: BulkOutcome = { failures: [], retried: 0 };
    let pending = batch;
    for (let attempt = 1; pending.length > 0; attempt += 1) {
      const throttled: { item: { id: string; doc: D }; error?: estypes.ErrorCause }[] = [];
      try {
        const response = await this.client.bulk({ index, operations: pending.flatMap((d) => [{ index: { _id: d.id } }, d.doc]) });
        if (response.items.length !== pending.length) throw new Error(`bulk answered ${response.items.length} items for ${pending.length} operations`);
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
    const [nodes, examples] = await Promise.all([this.indicesBehind(this.aliases.nodes), this.indicesBehind(this.aliases.examples)]);
    return { nodes, examples };
  }

  private async indicesBehind(alias: string): Promise<string[]> {
    try {
      return Object.keys(await this.client.indices.getAlias({ name: alias })).sort();
    } catch (err) {
      // No alias yet: the first publish.
      if (isNotFound(err)) return [];
      throw err;
    }
  }

  /** Removes the alias from exactly the indices it was read on (a remove of a missing alias fails the whole request). */
  private async swapAliases(previous: AliasTargets, names: KnowledgeIndexNames): Promise<void> {
    const actions: estypes.IndicesUpdateAliasesAction[] = [
      ...previous.nodes.map((index) => ({ remove: { index, alias: this.aliases.nodes } })),
      ...previous.examples.map((index) => ({ remove: { index, alias: this.aliases.examples } })),
      { add: { index: names.nodes, alias: this.aliases.nodes } },
      { add: { index: names.examples, alias: this.aliases.examples } },
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
    } catch {
      return 'unknown';
    }
  }

  private async isLive(names: KnowledgeIndexNames): Promise<boolean> {
    const now = await this.aliasTargets();
    return now.nodes.length === 1 && now.nodes[0] === names.nodes && now.examples.length === 1 && now.examples[0] === names.examples;
  }

  /** Deletes versions beyond the newest `keep` (by creation time of their indices), never `live`. */
  private async prune(keep: number, live: string): Promise<string[]> {
    const { prefix } = this.options;
    const settings = await this.client.indices.getSettings({ index: [`${prefix}-nodes-*`, `${prefix}-examples-*`], name: 'index.creation_date' });
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
    for (const kind of ['nodes', 'examples']) {
      const head = `${this.options.prefix}-${kind}-`;
      if (index.startsWith(head) && index.length > head.length) return index.slice(head.length);
    }
    return undefined;
  }
}

/** Filter clauses, or NO_MATCH when the filter excludes everything (an empty `nodeIds`). */
type Filters = estypes.QueryDslQueryContainer[] | typeof NO_MATCH;
const NO_MATCH = Symbol('no match');

/**
 * Node filters. A node with language '' (or none) holds every language, so a language filter keeps
 * those too. `nodeIds` restricts to those node ids.
 */
function nodeFilters(filter: SearchFilter | undefined): Filters {
  const out: estypes.QueryDslQueryContainer[] = [];
  if (filter?.language) {
    out.push({
      bool: {
        should: [{ term: { language: filter.language } }, { term: { language: '' } }, { bool: { must_not: [{ exists: { field: 'language' } }] } }],
        minimum_should_match: 1,
      },
    });
  }
  if (filter?.cwe) out.push({ term: { cwe: filter.cwe } });
  if (filter?.nodeIds) {
    if (filter.nodeIds.length === 0) return NO_MATCH;
    out.push({ terms: { id: filter.nodeIds } });
  }
  return out;
}

/** Example filters: an example is always in one language, so the language filter is exact. */
function exampleFilters(filter: SearchFilter | undefined): Filters {
  const out: estypes.QueryDslQueryContainer[] = [];
  if (filter?.language) out.push({ term: { language: filter.language } });
  if (filter?.cwe) out.push({ term: { cwe: filter.cwe } });
  if (filter?.nodeIds) {
    if (filter.nodeIds.length === 0) return NO_MATCH;
    out.push({ terms: { node_id: filter.nodeIds } });
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
