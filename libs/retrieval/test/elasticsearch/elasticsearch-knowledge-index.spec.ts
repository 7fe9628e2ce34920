// Contract tests of the Elasticsearch knowledge index: the exact requests it sends, and what it does
// with the answers, which are hand-written fixtures in ES's documented shapes (see fixtures/README.md).
// They prove the adapter's protocol, not retrieval quality: the mock runs no BM25 or kNN.
import { errors } from '@elastic/elasticsearch';
import {
  ElasticsearchKnowledgeIndex,
  KnowledgeIndexPublishError,
  type ElasticsearchKnowledgeIndexOptions,
} from '../../src/knowledge-index/elasticsearch-knowledge-index';
import type { KnowledgeIndexReader } from '../../src/knowledge-index/knowledge-index';
import type { IndexedExample, IndexedNode, LanceKnowledgeIndex } from '../../src/knowledge-index/lance-knowledge-index';
import { ScriptedElasticsearch, type RecordedRequest } from './es-script';
import acknowledged from './fixtures/acknowledged.json';
import bulkExamplesCreated from './fixtures/bulk-examples-v2-created.json';
import bulkNodesCreated from './fixtures/bulk-nodes-v2-created.json';
import bulkNodesMixed from './fixtures/bulk-nodes-v2-mixed.json';
import bulkNodesRetryCreated from './fixtures/bulk-nodes-v2-retry-created.json';
import bulkNodesRetryThrottled from './fixtures/bulk-nodes-v2-retry-throttled.json';
import bulkRejected429 from './fixtures/bulk-rejected-429.json';
import count1 from './fixtures/count-1.json';
import count2 from './fixtures/count-2.json';
import createExamples from './fixtures/create-examples-v2.json';
import createNodes from './fixtures/create-nodes-v2.json';
import aliasExamplesV1 from './fixtures/get-alias-examples-v1.json';
import aliasExamplesV2 from './fixtures/get-alias-examples-v2.json';
import aliasMissing from './fixtures/get-alias-missing.json';
import aliasNodesV1 from './fixtures/get-alias-nodes-v1.json';
import aliasNodesV2 from './fixtures/get-alias-nodes-v2.json';
import creationDates from './fixtures/get-settings-creation-date.json';
import refresh from './fixtures/refresh.json';
import searchEmpty from './fixtures/search-empty.json';
import searchExamplesBm25 from './fixtures/search-examples-bm25.json';
import searchExamplesCode from './fixtures/search-examples-code-bm25.json';
import searchExamplesKnn from './fixtures/search-examples-knn.json';
import searchNodesBm25 from './fixtures/search-nodes-bm25.json';
import searchNodesKnn from './fixtures/search-nodes-knn.json';
import updateAliases from './fixtures/update-aliases.json';
import updateAliasesInvalid from './fixtures/update-aliases-invalid-alias.json';

const PREFIX = 'rescue-kb';
const V0 = 'kb-0000000000000000';
const V1 = 'kb-1111111111111111';
const V2 = 'kb-2222222222222222';
const N0 = `${PREFIX}-nodes-${V0}`;
const E0 = `${PREFIX}-examples-${V0}`;
const N1 = `${PREFIX}-nodes-${V1}`;
const E1 = `${PREFIX}-examples-${V1}`;
const N2 = `${PREFIX}-nodes-${V2}`;
const E2 = `${PREFIX}-examples-${V2}`;
const NODES_ALIAS = `${PREFIX}-nodes`;
const EXAMPLES_ALIAS = `${PREFIX}-examples`;
const SETTINGS_PATH = `/${PREFIX}-nodes-*,${PREFIX}-examples-*/_settings/index.creation_date`;

// The mappings and settings spelled out, not imported: a change to what the code sends must show here.
const SETTINGS = {
  analysis: {
    tokenizer: { api_names: { type: 'char_group', tokenize_on_chars: ['whitespace', '.', ',', ';', ':', '(', ')', '[', ']'] } },
    analyzer: { api_names: { type: 'custom', tokenizer: 'api_names', filter: ['lowercase'] } },
  },
};
const vectorMapping = (dims: number) => ({ type: 'dense_vector', dims, similarity: 'cosine', index: true, index_options: { type: 'hnsw' } });
const nodesMappings = (dims: number) => ({
  dynamic: 'strict',
  properties: {
    id: { type: 'keyword' },
    cwe: { type: 'keyword' },
    language: { type: 'keyword' },
    text: { type: 'text' },
    api_text: { type: 'text', analyzer: 'api_names' },
    cause_vector: vectorMapping(dims),
  },
});
const examplesMappings = (dims: number) => ({
  dynamic: 'strict',
  properties: {
    id: { type: 'keyword' },
    node_id: { type: 'keyword' },
    cwe: { type: 'keyword' },
    language: { type: 'keyword' },
    api_text: { type: 'text', analyzer: 'api_names' },
    code_text: { type: 'text' },
    code_vector: vectorMapping(dims),
  },
});

// Vector components exactly representable in float32, so the JSON sent equals the literals below.
const n1: IndexedNode = { id: 'n1', cwe: 'CWE-787', language: 'c', text: 'CWE-787 Out-of-bounds write', apiText: 'strcpy memcpy', causeVector: new Float32Array([1, 0.5, 0.25]) };
/** Language-neutral, and its vector is all zeros (text with no known term). */
const n2: IndexedNode = { id: 'n2', cwe: 'CWE-787', language: '', text: 'Write past the end of a buffer', apiText: '', causeVector: new Float32Array(3) };
const n3: IndexedNode = { id: 'n3', cwe: 'CWE-787', language: 'c', text: 'A node whose cwe ES refuses', apiText: 'gets', causeVector: new Float32Array([0, 0, 1]) };
const e1: IndexedExample = { id: 'e1', nodeId: 'n1', cwe: 'CWE-787', language: 'c', apiText: 'strcpy', codeVector: new Float32Array([0, 1, 0.5]) };

const n1Doc = { id: 'n1', cwe: 'CWE-787', language: 'c', text: 'CWE-787 Out-of-bounds write', api_text: 'strcpy memcpy', cause_vector: [1, 0.5, 0.25] };
const n2Doc = { id: 'n2', cwe: 'CWE-787', language: '', text: 'Write past the end of a buffer', api_text: '' };
const n3Doc = { id: 'n3', cwe: 'CWE-787', language: 'c', text: 'A node whose cwe ES refuses', api_text: 'gets', cause_vector: [0, 0, 1] };
const e1Doc = { id: 'e1', node_id: 'n1', cwe: 'CWE-787', language: 'c', api_text: 'strcpy', code_vector: [0, 1, 0.5] };

const req = (method: string, path: string, body: unknown = null, querystring: Record<string, string> = {}): RecordedRequest => ({ method, path, querystring, body });
const notFound = { httpStatus: 404, body: aliasMissing };

interface Harness {
  es: ScriptedElasticsearch;
  kb: ElasticsearchKnowledgeIndex;
  sleeps: number[];
}

function harness(options: Partial<ElasticsearchKnowledgeIndexOptions> = {}): Harness {
  const es = new ScriptedElasticsearch();
  const sleeps: number[] = [];
  const kb = new ElasticsearchKnowledgeIndex(es.client(), {
    prefix: PREFIX,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    ...options,
  });
  return { es, kb, sleeps };
}

/** V1 live; V2 built from n1, n2 and e1 without trouble. */
function scriptPublishOfV2(es: ScriptedElasticsearch): void {
  es.on('GET', `/_alias/${NODES_ALIAS}`, aliasNodesV1)
    .on('GET', `/_alias/${EXAMPLES_ALIAS}`, aliasExamplesV1)
    .on('DELETE', `/${N2},${E2}`, acknowledged)
    .on('PUT', `/${N2}`, createNodes)
    .on('PUT', `/${E2}`, createExamples)
    .on('POST', `/${N2}/_bulk`, bulkNodesCreated)
    .on('POST', `/${E2}/_bulk`, bulkExamplesCreated)
    .on('GET', `/${N2},${E2}/_refresh`, refresh)
    .on('GET', `/${N2}/_count`, count2)
    .on('GET', `/${E2}/_count`, count1)
    .on('POST', '/_aliases', updateAliases)
    .on('GET', SETTINGS_PATH, creationDates);
}

const only = (es: ScriptedElasticsearch, method: string, suffix: string): RecordedRequest[] =>
  es.requests.filter((r) => r.method === method && r.path.endsWith(suffix));

async function publishError(p: Promise<unknown>): Promise<KnowledgeIndexPublishError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof KnowledgeIndexPublishError)) throw new Error(`expected a KnowledgeIndexPublishError, got ${String(err)}`);
  return err;
}

describe('ElasticsearchKnowledgeIndex.publish', () => {
  it('creates both indices with the caller’s dims, bulk-indexes with _id, refreshes once, swaps both aliases in one request, prunes beyond keep', async () => {
    const { es, kb } = harness();
    scriptPublishOfV2(es);
    es.on('DELETE', `/${E0},${N0}`, acknowledged);

    const result = await kb.publish(V2, [n1, n2], [e1], { dims: 3, keep: 2 });

    expect(es.requests).toEqual([
      req('GET', `/_alias/${NODES_ALIAS}`),
      req('GET', `/_alias/${EXAMPLES_ALIAS}`),
      req('DELETE', `/${N2},${E2}`, null, { ignore_unavailable: 'true' }),
      req('PUT', `/${N2}`, { settings: SETTINGS, mappings: nodesMappings(3) }),
      req('PUT', `/${E2}`, { settings: SETTINGS, mappings: examplesMappings(3) }),
      req('POST', `/${N2}/_bulk`, [{ index: { _id: 'n1' } }, n1Doc, { index: { _id: 'n2' } }, n2Doc]),
      req('POST', `/${E2}/_bulk`, [{ index: { _id: 'e1' } }, e1Doc]),
      req('GET', `/${N2},${E2}/_refresh`),
      req('GET', `/${N2}/_count`),
      req('GET', `/${E2}/_count`),
      req('POST', '/_aliases', {
        actions: [
          { remove: { index: N1, alias: NODES_ALIAS } },
          { remove: { index: E1, alias: EXAMPLES_ALIAS } },
          { add: { index: N2, alias: NODES_ALIAS } },
          { add: { index: E2, alias: EXAMPLES_ALIAS } },
        ],
      }),
      req('GET', SETTINGS_PATH),
      // keep 2 of V2, V1, V0 (newest first by creation date): V0 goes, by explicit name.
      req('DELETE', `/${E0},${N0}`),
    ]);
    expect(es.unused()).toEqual([]);
    expect(result).toEqual({
      version: V2,
      previousVersion: V1,
      alreadyLive: false,
      indexed: { nodes: 2, examples: 1 },
      withoutVector: { nodes: 1, examples: 0 },
      retried: 0,
      deletedVersions: [V0],
    });
  });

  it('sends no bulk refresh flag and stores an all-zero vector as a missing field', async () => {
    const { es, kb } = harness();
    scriptPublishOfV2(es);
    await kb.publish(V2, [n1, n2], [e1], { dims: 3 });

    const bulks = only(es, 'POST', '/_bulk');
    expect(bulks.map((b) => b.querystring)).toEqual([{}, {}]);
    expect(only(es, 'GET', '/_refresh')).toHaveLength(1);
    expect(only(es, 'POST', '/_aliases')).toHaveLength(1);
    const nodeLines = bulks[0].body as Record<string, unknown>[];
    expect(nodeLines[3]).toEqual(n2Doc);
    expect(nodeLines[3]).not.toHaveProperty('cause_vector');
    // keep defaults to 3 and there are 3 versions: nothing deleted.
    expect(es.requests.at(-1)).toEqual(req('GET', SETTINGS_PATH));
  });

  it('on the first publish only adds the aliases', async () => {
    const { es, kb } = harness();
    scriptPublishOfV2(es);
    es.clear('GET', `/_alias/${NODES_ALIAS}`).clear('GET', `/_alias/${EXAMPLES_ALIAS}`);
    es.on('GET', `/_alias/${NODES_ALIAS}`, notFound).on('GET', `/_alias/${EXAMPLES_ALIAS}`, notFound);

    const result = await kb.publish(V2, [n1, n2], [e1], { dims: 3 });

    expect(only(es, 'POST', '/_aliases').map((r) => r.body)).toEqual([
      { actions: [{ add: { index: N2, alias: NODES_ALIAS } }, { add: { index: E2, alias: EXAMPLES_ALIAS } }] },
    ]);
    expect(result.previousVersion).toBeUndefined();
  });

  it('takes separate dims for nodes and examples', async () => {
    const { es, kb } = harness();
    scriptPublishOfV2(es);
    await kb.publish(V2, [n1, n2], [{ ...e1, codeVector: new Float32Array([0, 1, 0.5, 0.25, 0]) }], { dims: { nodes: 3, examples: 5 } });
    expect(only(es, 'PUT', N2)[0].body).toEqual({ settings: SETTINGS, mappings: nodesMappings(3) });
    expect(only(es, 'PUT', E2)[0].body).toEqual({ settings: SETTINGS, mappings: examplesMappings(5) });
  });

  it('resends only the 429 item, reports the 400 item after the batch, never swaps, and deletes the new indices', async () => {
    const { es, kb, sleeps } = harness();
    es.on('GET', `/_alias/${NODES_ALIAS}`, aliasNodesV1, aliasNodesV1)
      .on('GET', `/_alias/${EXAMPLES_ALIAS}`, aliasExamplesV1, aliasExamplesV1)
      .on('DELETE', `/${N2},${E2}`, acknowledged, acknowledged)
      .on('PUT', `/${N2}`, createNodes)
      .on('PUT', `/${E2}`, createExamples)
      .on('POST', `/${N2}/_bulk`, bulkNodesMixed, bulkNodesRetryCreated)
      .on('POST', `/${E2}/_bulk`, bulkExamplesCreated);

    const err = await publishError(kb.publish(V2, [n1, n2, n3], [e1], { dims: 3 }));

    expect(err.stage).toBe('bulk');
    expect(err.version).toBe(V2);
    expect(err.failures).toEqual([
      { collection: 'nodes', id: 'n3', status: 400, type: 'document_parsing_exception', reason: expect.stringContaining('immense term in field="cwe"') },
    ]);
    expect(err.message).toContain('nodes/n3: 400 document_parsing_exception');
    expect(err.cleanupError).toBeUndefined();

    const bulks = only(es, 'POST', `${N2}/_bulk`);
    expect(bulks.map((b) => b.body)).toEqual([
      [{ index: { _id: 'n1' } }, n1Doc, { index: { _id: 'n2' } }, n2Doc, { index: { _id: 'n3' } }, n3Doc],
      [{ index: { _id: 'n2' } }, n2Doc],
    ]);
    expect(sleeps).toEqual([200]);
    // The other batches still went out, so the error lists every bad document at once.
    expect(only(es, 'POST', `${E2}/_bulk`)).toHaveLength(1);
    expect(only(es, 'GET', '/_refresh')).toEqual([]);
    expect(only(es, 'POST', '/_aliases')).toEqual([]);
    expect(es.requests.at(-1)).toEqual(req('DELETE', `/${N2},${E2}`, null, { ignore_unavailable: 'true' }));

    // The alias was never touched: it still serves V1.
    await expect(kb.liveVersion()).resolves.toBe(V1);
    expect(es.unused()).toEqual([]);
  });

  it('gives up on an item still throttled after maxAttempts, with doubling waits', async () => {
    const { es, kb, sleeps } = harness({ bulk: { maxAttempts: 3, baseDelayMs: 100 } });
    es.on('GET', `/_alias/${NODES_ALIAS}`, aliasNodesV1)
      .on('GET', `/_alias/${EXAMPLES_ALIAS}`, aliasExamplesV1)
      .on('DELETE', `/${N2},${E2}`, acknowledged, acknowledged)
      .on('PUT', `/${N2}`, createNodes)
      .on('PUT', `/${E2}`, createExamples)
      .on('POST', `/${N2}/_bulk`, bulkNodesMixed, bulkNodesRetryThrottled, bulkNodesRetryThrottled)
      .on('POST', `/${E2}/_bulk`, bulkExamplesCreated);

    const err = await publishError(kb.publish(V2, [n1, n2, n3], [e1], { dims: 3 }));

    expect(err.failures.map((f) => [f.id, f.status, f.type])).toEqual([
      ['n3', 400, 'document_parsing_exception'],
      ['n2', 429, 'es_rejected_execution_exception'],
    ]);
    expect(err.failures[1].reason).toMatch(/^still throttled after 3 attempts: rejected execution/);
    expect(sleeps).toEqual([100, 200]);
    expect(only(es, 'POST', `${N2}/_bulk`)).toHaveLength(3);
    expect(es.unused()).toEqual([]);
  });

  it('resends a whole bulk request refused with HTTP 429', async () => {
    const { es, kb, sleeps } = harness();
    scriptPublishOfV2(es);
    es.clear('POST', `/${N2}/_bulk`);
    es.on('POST', `/${N2}/_bulk`, { httpStatus: 429, body: bulkRejected429 }, bulkNodesCreated);

    const result = await kb.publish(V2, [n1, n2], [e1], { dims: 3 });

    expect(result.retried).toBe(2);
    expect(sleeps).toEqual([200]);
    const bulks = only(es, 'POST', `${N2}/_bulk`);
    expect(bulks[1].body).toEqual(bulks[0].body);
  });

  it('refuses bad documents before sending any request', async () => {
    const { es, kb } = harness();
    const short = { ...n1, id: 'short', causeVector: new Float32Array([1, 0]) };
    const nan = { ...n1, id: 'nan', causeVector: new Float32Array([1, Number.NaN, 0]) };
    const err = await publishError(kb.publish(V2, [n1, short, nan, n1], [{ ...e1, id: '' }], { dims: 3 }));

    expect(err.stage).toBe('validate');
    expect(err.failures).toEqual([
      { collection: 'nodes', id: 'short', type: 'invalid_document', reason: 'vector has 2 dimensions, the mapping has 3' },
      { collection: 'nodes', id: 'nan', type: 'invalid_document', reason: 'vector holds NaN or Infinity' },
      { collection: 'nodes', id: 'n1', type: 'invalid_document', reason: 'duplicate id' },
      { collection: 'examples', id: '', type: 'invalid_document', reason: 'empty id' },
    ]);
    expect(es.requests).toEqual([]);
  });

  it('rejects dims outside 1..4096, keep below 1 and index-unsafe names before any request', async () => {
    const { es, kb } = harness();
    await expect(kb.publish(V2, [], [], { dims: 0 })).rejects.toThrow(RangeError);
    await expect(kb.publish(V2, [], [], { dims: 4097 })).rejects.toThrow(RangeError);
    await expect(kb.publish(V2, [], [], { dims: 3, keep: 0 })).rejects.toThrow(RangeError);
    await expect(kb.publish('KB/1', [], [], { dims: 3 })).rejects.toThrow(RangeError);
    expect(() => new ElasticsearchKnowledgeIndex(es.client(), { prefix: 'Rescue KB' })).toThrow(RangeError);
    expect(es.requests).toEqual([]);
  });

  it('fails at verify when the refreshed counts differ, and cleans up', async () => {
    const { es, kb } = harness();
    scriptPublishOfV2(es);
    es.clear('GET', `/${N2}/_count`);
    es.on('GET', `/${N2}/_count`, count1).on('DELETE', `/${N2},${E2}`, acknowledged);

    const err = await publishError(kb.publish(V2, [n1, n2], [e1], { dims: 3 }));

    expect(err.stage).toBe('verify');
    expect(err.message).toContain('indexed 1/2 nodes and 1/1 examples');
    expect(only(es, 'POST', '/_aliases')).toEqual([]);
    expect(es.requests.at(-1)).toEqual(req('DELETE', `/${N2},${E2}`, null, { ignore_unavailable: 'true' }));
  });

  it('leaves the old version serving when ES refuses the alias swap, and deletes the new indices', async () => {
    const { es, kb } = harness();
    scriptPublishOfV2(es);
    es.clear('POST', '/_aliases');
    es.on('POST', '/_aliases', { httpStatus: 400, body: updateAliasesInvalid }).on('DELETE', `/${N2},${E2}`, acknowledged);

    const err = await publishError(kb.publish(V2, [n1, n2], [e1], { dims: 3 }));

    expect(err.stage).toBe('swap');
    expect(err.cause).toBeInstanceOf(errors.ResponseError);
    expect(only(es, 'POST', '/_aliases')).toHaveLength(1);
    expect(es.requests.at(-1)).toEqual(req('DELETE', `/${N2},${E2}`, null, { ignore_unavailable: 'true' }));
    expect(only(es, 'GET', '/index.creation_date')).toEqual([]);
  });

  it('treats a swap whose answer was lost as done when the aliases read back on the new version', async () => {
    const { es, kb } = harness();
    scriptPublishOfV2(es);
    es.clear('POST', '/_aliases');
    es.on('POST', '/_aliases', { connectionError: 'socket hang up' })
      .on('GET', `/_alias/${NODES_ALIAS}`, aliasNodesV2)
      .on('GET', `/_alias/${EXAMPLES_ALIAS}`, aliasExamplesV2);

    const result = await kb.publish(V2, [n1, n2], [e1], { dims: 3 });

    expect(result.alreadyLive).toBe(false);
    expect(result.previousVersion).toBe(V1);
    expect(es.requests.filter((r) => r.method === 'DELETE' && r.path === `/${N2},${E2}`)).toHaveLength(1);
    expect(es.unused()).toEqual([]);
  });

  it('keeps the new indices when a lost swap cannot be read back: they may be live', async () => {
    const { es, kb } = harness();
    scriptPublishOfV2(es);
    es.clear('POST', '/_aliases');
    es.on('POST', '/_aliases', { connectionError: 'socket hang up' })
      .on('GET', `/_alias/${NODES_ALIAS}`, { connectionError: 'connect ECONNREFUSED' })
      .on('GET', `/_alias/${EXAMPLES_ALIAS}`, { connectionError: 'connect ECONNREFUSED' });

    const err = await publishError(kb.publish(V2, [n1, n2], [e1], { dims: 3 }));

    expect(err.stage).toBe('swap');
    expect(err.cause).toBeInstanceOf(errors.ConnectionError);
    // Only the pre-build delete: no cleanup delete after the swap.
    expect(es.requests.filter((r) => r.method === 'DELETE')).toEqual([req('DELETE', `/${N2},${E2}`, null, { ignore_unavailable: 'true' })]);
  });

  it('writes nothing when the version is already live with the same counts', async () => {
    const { es, kb } = harness();
    es.on('GET', `/_alias/${NODES_ALIAS}`, aliasNodesV2)
      .on('GET', `/_alias/${EXAMPLES_ALIAS}`, aliasExamplesV2)
      .on('GET', `/${N2}/_count`, count2)
      .on('GET', `/${E2}/_count`, count1)
      .on('GET', SETTINGS_PATH, creationDates);

    const result = await kb.publish(V2, [n1, n2], [e1], { dims: 3 });

    expect(result).toMatchObject({ version: V2, previousVersion: V2, alreadyLive: true, indexed: { nodes: 2, examples: 1 }, deletedVersions: [] });
    expect(es.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      `GET /_alias/${NODES_ALIAS}`,
      `GET /_alias/${EXAMPLES_ALIAS}`,
      `GET /${N2}/_count`,
      `GET /${E2}/_count`,
      `GET ${SETTINGS_PATH}`,
    ]);
  });

  it('refuses to republish the live version with different content', async () => {
    const { es, kb } = harness();
    es.on('GET', `/_alias/${NODES_ALIAS}`, aliasNodesV2)
      .on('GET', `/_alias/${EXAMPLES_ALIAS}`, aliasExamplesV2)
      .on('GET', `/${N2}/_count`, count2)
      .on('GET', `/${E2}/_count`, count1);

    const err = await publishError(kb.publish(V2, [n1, n2, n3], [e1], { dims: 3 }));

    expect(err.stage).toBe('prepare');
    expect(es.requests.some((r) => r.method !== 'GET')).toBe(false);
  });

  it('reports a failed prune without failing the publish', async () => {
    const { es, kb } = harness();
    scriptPublishOfV2(es);
    es.clear('GET', SETTINGS_PATH);
    es.on('GET', SETTINGS_PATH, { httpStatus: 503, body: { error: { type: 'cluster_block_exception', reason: 'blocked' }, status: 503 } });

    const result = await kb.publish(V2, [n1, n2], [e1], { dims: 3 });

    expect(result.deletedVersions).toEqual([]);
    expect(result.pruneError).toBeInstanceOf(errors.ResponseError);
  });
});

describe('ElasticsearchKnowledgeIndex searches', () => {
  const languageC = {
    bool: {
      should: [{ term: { language: 'c' } }, { term: { language: '' } }, { bool: { must_not: [{ exists: { field: 'language' } }] } }],
      minimum_should_match: 1,
    },
  };

  it('runs BM25 on the nodes alias with the language (or neutral) and CWE filters', async () => {
    const { es, kb } = harness();
    es.on('POST', `/${NODES_ALIAS}/_search`, searchNodesBm25);

    const hits = await kb.searchNodesText('buffer overflow strcpy', 'text', 5, { language: 'c', cwe: 'CWE-787' });

    expect(es.requests).toEqual([
      req('POST', `/${NODES_ALIAS}/_search`, {
        size: 5,
        _source: false,
        track_total_hits: false,
        query: { bool: { must: [{ match: { text: { query: 'buffer overflow strcpy' } } }], filter: [languageC, { term: { cwe: 'CWE-787' } }] } },
      }),
    ]);
    expect(hits).toEqual([
      { id: 'n1', score: 4.2162 },
      { id: 'n2', score: 1.0871 },
    ]);
  });

  it('ranks nodes by their best example under BM25 over code_text, first hit of a node wins', async () => {
    const { es, kb } = harness();
    es.on('POST', `/${EXAMPLES_ALIAS}/_search`, searchExamplesCode);

    const hits = await kb.searchNodesByExampleCode('strcpy(buf, name)', 200, { language: 'c' });

    expect(es.requests).toEqual([
      req('POST', `/${EXAMPLES_ALIAS}/_search`, {
        size: 200,
        _source: ['node_id'],
        track_total_hits: false,
        query: { bool: { must: [{ match: { code_text: { query: 'strcpy(buf, name)' } } }], filter: [{ term: { language: 'c' } }] } },
      }),
    ]);
    expect(hits).toEqual([
      { id: 'n1', score: 7.5 },
      { id: 'n4', score: 3.25 },
    ]);
    await expect(kb.searchNodesByExampleCode('  ', 10)).resolves.toEqual([]);
    expect(es.requests).toHaveLength(1);
  });

  it('runs a plain match on api_text without a filter', async () => {
    const { es, kb } = harness();
    es.on('POST', `/${NODES_ALIAS}/_search`, searchEmpty);

    await expect(kb.searchNodesText('strcpy', 'api_text', 3)).resolves.toEqual([]);
    expect(es.requests[0].body).toEqual({ size: 3, _source: false, track_total_hits: false, query: { match: { api_text: { query: 'strcpy' } } } });
  });

  it('runs kNN through the top-level knn option and turns ES’s cosine _score back into cosine similarity', async () => {
    const { es, kb } = harness();
    es.on('POST', `/${NODES_ALIAS}/_search`, searchNodesKnn);

    const hits = await kb.searchNodesVector(new Float32Array([1, 0.5, 0.25]), 3, { language: 'c' });

    expect(es.requests).toEqual([
      req('POST', `/${NODES_ALIAS}/_search`, {
        size: 3,
        _source: false,
        track_total_hits: false,
        knn: { field: 'cause_vector', query_vector: [1, 0.5, 0.25], k: 3, num_candidates: 100, filter: [languageC] },
      }),
    ]);
    // _score = (1 + cos) / 2: 0.95 → 0.9, 0.5 → 0, 0.125 → -0.75.
    expect(hits).toEqual([
      { id: 'n1', score: expect.closeTo(0.9, 12) },
      { id: 'n4', score: 0 },
      { id: 'n5', score: -0.75 },
    ]);
  });

  it('reads a given version: exact language and node-id filters on examples', async () => {
    const { es, kb } = harness({ version: V1 });
    es.on('POST', `/${E1}/_search`, searchExamplesBm25, searchExamplesKnn);

    const text = await kb.searchExamplesApi('strcpy', 4, { language: 'c', nodeIds: ['n1', 'n2'] });
    const vector = await kb.searchExamplesVector(new Float32Array([0, 1, 0.5]), 20, { cwe: 'CWE-787', nodeIds: ['n1'] });

    expect(es.requests.map((r) => r.body)).toEqual([
      {
        size: 4,
        _source: false,
        track_total_hits: false,
        query: { bool: { must: [{ match: { api_text: { query: 'strcpy' } } }], filter: [{ term: { language: 'c' } }, { terms: { node_id: ['n1', 'n2'] } }] } },
      },
      {
        size: 20,
        _source: false,
        track_total_hits: false,
        knn: { field: 'code_vector', query_vector: [0, 1, 0.5], k: 20, num_candidates: 200, filter: [{ term: { cwe: 'CWE-787' } }, { terms: { node_id: ['n1'] } }] },
      },
    ]);
    expect(text).toEqual([{ id: 'e1', score: 2.5 }]);
    expect(vector).toEqual([
      { id: 'e1', score: 1 },
      { id: 'e2', score: 0.5 },
    ]);
  });

  it('answers without a request when nothing can match: blank query, zero vector, empty nodeIds, k = 0', async () => {
    const { es, kb } = harness();
    await expect(kb.searchNodesText('   ', 'text', 5)).resolves.toEqual([]);
    await expect(kb.searchNodesVector(new Float32Array(3), 5)).resolves.toEqual([]);
    await expect(kb.searchExamplesApi('strcpy', 5, { nodeIds: [] })).resolves.toEqual([]);
    await expect(kb.searchExamplesVector(new Float32Array([1, 0, 0]), 0)).resolves.toEqual([]);
    expect(es.requests).toEqual([]);
  });

  it('counts both collections behind the aliases', async () => {
    const { es, kb } = harness();
    es.on('GET', `/${NODES_ALIAS}/_count`, count2).on('GET', `/${EXAMPLES_ALIAS}/_count`, count1);
    await expect(kb.counts()).resolves.toEqual({ nodes: 2, examples: 1 });
  });

  it('is a KnowledgeIndexReader, as the embedded backend is', () => {
    // Compile-time contract: both backends must fit the interface the retrieval code uses.
    const asReader = (index: LanceKnowledgeIndex | ElasticsearchKnowledgeIndex): KnowledgeIndexReader => index;
    const { kb } = harness();
    expect(asReader(kb)).toBe(kb);
  });
});
