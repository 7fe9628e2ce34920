// Runs the Elasticsearch knowledge index against a real server when ELASTICSEARCH_URL is set
// (e.g. http://127.0.0.1:9200 with security off, or https://user:pass@host:9200). Everything it
// creates is named by a random prefix and deleted afterwards. The contract tests cover the protocol;
// this suite checks what the mock cannot: the mappings are accepted, the API analyzer splits
// qualified names, filters and kNN rank for real, and the alias moves.
import { randomBytes } from 'node:crypto';
import { Client } from '@elastic/elasticsearch';
import { ElasticsearchKbDocuments } from '../../src/knowledge-index/elasticsearch-kb-documents';
import { ElasticsearchKnowledgeIndex, KnowledgeIndexPublishError } from '../../src/knowledge-index/elasticsearch-knowledge-index';
import type { IndexedExample, IndexedNode } from '../../src/knowledge-index/lance-knowledge-index';

const url = process.env.ELASTICSEARCH_URL;
if (!url) process.stdout.write('libs/retrieval/test/elasticsearch/live.int-spec.ts skipped: ELASTICSEARCH_URL is not set (no Elasticsearch to test against)\n');
const describeLive = url ? describe : describe.skip;

const vec = (...xs: number[]): Float32Array => new Float32Array(xs);

const nodes: IndexedNode[] = [
  { id: 'n-c', cwe: 'CWE-787', language: 'c', text: 'Out-of-bounds write: copying into a fixed buffer without a length check', apiText: 'strcpy memcpy', causeVector: vec(1, 0, 0, 0) },
  { id: 'n-any', cwe: 'CWE-787', language: '', text: 'Writing past the end of a buffer corrupts memory', apiText: 'strcpy', causeVector: vec(0.9, 0.1, 0, 0) },
  { id: 'n-py', cwe: 'CWE-78', language: 'python', text: 'OS command injection through a shell', apiText: 'os system subprocess popen', causeVector: vec(0, 0, 1, 0) },
  // No known term: an all-zero vector, stored without the field.
  { id: 'n-zero', cwe: 'CWE-787', language: 'c', text: 'strcpy', apiText: 'strcpy', causeVector: vec(0, 0, 0, 0) },
];
const examples: IndexedExample[] = [
  { id: 'e-c', nodeId: 'n-c', cwe: 'CWE-787', language: 'c', apiText: 'strncpy', codeText: 'strncpy(buf, src, sizeof buf - 1);', codeVector: vec(1, 0, 0, 0) },
  { id: 'e-py', nodeId: 'n-py', cwe: 'CWE-78', language: 'python', apiText: 'subprocess.run', codeVector: vec(0, 0, 1, 0) },
];

describeLive('ElasticsearchKnowledgeIndex against a live Elasticsearch', () => {
  const prefix = `rescue-test-${randomBytes(4).toString('hex')}`;
  let client: Client;
  let kb: ElasticsearchKnowledgeIndex;

  beforeAll(() => {
    client = new Client({ node: url });
    kb = new ElasticsearchKnowledgeIndex(client, { prefix });
  });

  afterAll(async () => {
    // By name: wildcard deletes are refused by default (action.destructive_requires_name).
    const left = Object.keys(await client.indices.get({ index: `${prefix}-*` }));
    if (left.length > 0) await client.indices.delete({ index: left });
    await client.close();
  });

  it('publishes two versions, searches the live one, moves the alias, prunes, and survives a failed publish', async () => {
    const first = await kb.publish('v1', nodes, examples, { dims: 4 });
    expect(first).toMatchObject({ version: 'v1', alreadyLive: false, indexed: { nodes: 4, examples: 2 }, withoutVector: { nodes: 1, examples: 0 } });
    expect(await kb.liveVersion()).toBe('v1');
    expect(await kb.counts()).toEqual({ nodes: 4, examples: 2 });

    // BM25 with the language filter: C nodes and language-neutral ones, not Python.
    const text = await kb.searchNodesText('buffer', 'text', 10, { language: 'c' });
    expect(text.map((h) => h.id).sort()).toEqual(['n-any', 'n-c']);
    expect(text.every((h) => h.score > 0)).toBe(true);
    // The API analyzer splits `subprocess.run` on the dot.
    expect((await kb.searchExamplesApi('run', 5)).map((h) => h.id)).toEqual(['e-py']);
    expect((await kb.searchExamplesApi('strncpy', 5, { nodeIds: ['n-py'] })).map((h) => h.id)).toEqual([]);

    // kNN: cosine recovered from _score; the zero-vector node is never a candidate.
    const near = await kb.searchNodesVector(vec(1, 0, 0, 0), 10, { cwe: 'CWE-787' });
    expect(near.map((h) => h.id)).toEqual(['n-c', 'n-any']);
    expect(near[0].score).toBeCloseTo(1, 5);
    expect(near[1].score).toBeCloseTo(0.9 / Math.hypot(0.9, 0.1), 5);
    expect((await kb.searchExamplesVector(vec(0, 0, 1, 0), 5, { language: 'python' })).map((h) => h.id)).toEqual(['e-py']);
    // The examples facet: nodes by their examples' code, read from node_id in _source.
    expect(await kb.searchNodesByExampleCode('strncpy buf', 10, { language: 'c' })).toEqual([{ id: 'n-c', score: expect.any(Number) }]);
    expect(await kb.searchNodesByExampleCode('strncpy buf', 10, { language: 'python' })).toEqual([]);

    const extra: IndexedNode = { id: 'n-js', cwe: 'CWE-79', language: 'javascript', text: 'Cross-site scripting', apiText: 'innerhtml', causeVector: vec(0, 1, 0, 0) };
    const second = await kb.publish('v2', [...nodes, extra], examples, { dims: 4 });
    expect(second).toMatchObject({ version: 'v2', previousVersion: 'v1', deletedVersions: [] });
    expect(await kb.liveVersion()).toBe('v2');
    expect(Object.keys(await client.indices.getAlias({ name: `${prefix}-nodes` }))).toEqual([`${prefix}-nodes-v2`]);
    expect(await kb.counts()).toEqual({ nodes: 5, examples: 2 });
    // The previous version is still readable by name until pruned.
    expect(await new ElasticsearchKnowledgeIndex(client, { prefix, version: 'v1' }).counts()).toEqual({ nodes: 4, examples: 2 });

    // Rerunning the live version is a no-op.
    expect(await kb.publish('v2', [...nodes, extra], examples, { dims: 4 })).toMatchObject({ alreadyLive: true });

    // A document ES refuses (a keyword term over 32766 bytes) fails the publish; v2 keeps serving.
    const immense: IndexedNode = { ...extra, id: 'n-bad', cwe: 'x'.repeat(40_000) };
    const failed = await kb.publish('v3', [...nodes, immense], examples, { dims: 4 }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(failed).toBeInstanceOf(KnowledgeIndexPublishError);
    expect(failed).toMatchObject({ stage: 'bulk', failures: [expect.objectContaining({ id: 'n-bad', status: 400 })] });
    expect(await kb.liveVersion()).toBe('v2');
    expect(await client.indices.exists({ index: `${prefix}-nodes-v3` })).toBe(false);

    // keep 2 of v4, v2, v1 (v3 was deleted when it failed): v1 goes.
    const fourth = await kb.publish('v4', nodes, examples, { dims: 4, keep: 2 });
    expect(fourth.deletedVersions).toEqual(['v1']);
    expect(await client.indices.exists({ index: `${prefix}-nodes-v1` })).toBe(false);
    expect(await client.indices.exists({ index: `${prefix}-nodes-v2` })).toBe(true);
  });

  it('stores a version\'s KB documents and reads them back, pages included', async () => {
    const docs = new ElasticsearchKbDocuments(client, prefix);
    const many = Array.from({ length: 1234 }, (_, i) => ({ id: `n${i}`, guidelines: [`g${i}`] }));
    expect(await docs.write('v9', { manifest: { version: 'v9' }, embedder: '{"m":1}', nodes: many, examples: [{ id: 'e1' }] })).toEqual({ documents: 1237 });
    const back = await docs.read('v9');
    expect(back).toEqual({ manifest: { version: 'v9' }, embedder: '{"m":1}', thresholds: undefined, nodes: many, examples: [{ id: 'e1' }] });
    await docs.writeThresholds('v9', { thresholds: { text: 1 } });
    expect((await docs.read('v9')).thresholds).toEqual({ thresholds: { text: 1 } });
    await docs.delete(['v9']);
    await expect(docs.read('v9')).rejects.toThrow(/has no documents/);
  });
});
