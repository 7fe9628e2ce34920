// Runs the Elasticsearch knowledge index against a real server when ELASTICSEARCH_URL is set
// (e.g. http://127.0.0.1:9200 with security off, or https://user:pass@host:9200). Everything it
// creates is named by a random prefix and deleted afterwards. The contract tests cover the protocol;
// this suite checks what the mock cannot: the mappings are accepted, the whitespace analyzer keeps
// search terms as written, filters and kNN rank for real, and the aliases move.
import { randomBytes } from 'node:crypto';
import { Client } from '@elastic/elasticsearch';
import { ElasticsearchKbDocuments } from '../../src/knowledge-index/elasticsearch/kb-documents';
import { ElasticsearchKnowledgeIndex, KnowledgeIndexPublishError } from '../../src/knowledge-index/elasticsearch';
import { elasticsearchSearchFor } from '../../src/knowledge-index/elasticsearch/client';
import type { IndexedDocument, IndexedExample, IndexedKnowledge, IndexedNode } from '../../src/knowledge-index/knowledge-index';

const url = process.env.ELASTICSEARCH_URL;
if (!url) process.stdout.write('libs/retrieval/test/elasticsearch/live.int-spec.ts skipped: ELASTICSEARCH_URL is not set (no Elasticsearch to test against)\n');
const describeLive = url ? describe : describe.skip;

const vec = (...xs: number[]): Float32Array => new Float32Array(xs);

// Text fields hold search terms (lowercase, stemmed, space-separated), as the KB build writes them.
const nodes: IndexedNode[] = [
  { id: 'n-c', cwe: 'CWE-787', language: 'c', text: 'out bound write copi fix buffer length check', apiText: 'strcpy memcpy', causeVector: vec(1, 0, 0, 0) },
  {
    id: 'any:CWE-787',
    cwe: 'CWE-787',
    language: '',
    text: 'write past end buffer corrupt memori',
    apiText: 'strcpy',
    docTerms: 'write past end buffer corrupt memori strncpy',
    catalogTerms: 'out bound write buffer overflow',
    causeVector: vec(0.9, 0.1, 0, 0),
  },
  { id: 'n-py', cwe: 'CWE-78', language: 'python', text: 'os command inject shell', apiText: 'os system subprocess popen', causeVector: vec(0, 0, 1, 0) },
  {
    id: 'any:CWE-78',
    cwe: 'CWE-78',
    language: '',
    text: 'os command inject',
    apiText: '',
    docTerms: 'os command inject shell',
    catalogTerms: 'os command inject shell metacharact',
    causeVector: vec(0, 0, 0.9, 0.1),
  },
  // No known term: an all-zero vector, stored without the field.
  { id: 'n-zero', cwe: 'CWE-787', language: 'c', text: 'strcpy', apiText: 'strcpy', causeVector: vec(0, 0, 0, 0) },
];
const examples: IndexedExample[] = [
  { id: 'e-c', nodeId: 'n-c', cwe: 'CWE-787', language: 'c', kind: 'fix', apiText: 'strncpy', codeText: 'strncpy buf src sizeof', codeVector: vec(1, 0, 0, 0) },
  // Identifiers joined and split, as searchTerms writes them: `subprocess.run` is no single token here.
  { id: 'e-py', nodeId: 'n-py', cwe: 'CWE-78', language: 'python', kind: 'vulnerable', apiText: 'subprocess run', codeText: 'subprocess run shell true', codeVector: vec(0, 0, 1, 0) },
];
const documents: IndexedDocument[] = [
  { id: 'codeql:cpp/overflow', kind: 'codeql-help', cwes: ['CWE-787', 'CWE-120'], language: 'cpp', terms: 'buffer overflow copi unbound' },
  { id: 'desc:1', kind: 'description', cwes: ['CWE-78'], terms: 'run shell command user input' },
];
const knowledge = (over: Partial<IndexedKnowledge> = {}): IndexedKnowledge => ({ nodes, examples, documents, ...over });
const ids = (hits: { id: string }[]): string[] => hits.map((h) => h.id);

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

  it('publishes two versions, searches the live one, moves the aliases, prunes, and survives a failed publish', async () => {
    const first = await kb.publish('v1', knowledge(), { dims: 4 });
    expect(first).toMatchObject({ version: 'v1', alreadyLive: false, indexed: { nodes: 5, examples: 2, documents: 2 }, withoutVector: { nodes: 1, examples: 0 } });
    expect(await kb.liveVersion()).toBe('v1');
    expect(await kb.counts()).toEqual({ nodes: 5, examples: 2, documents: 2 });

    // The analyzer only splits on whitespace: tokens come back as written (the standard analyzer would
    // lowercase `Buffer` and split `cwe-787`), on every text field of every collection.
    for (const [collection, field] of [
      ['nodes', 'text'],
      ['nodes', 'catalog_terms'],
      ['examples', 'code_text'],
      ['documents', 'terms'],
    ]) {
      const analyzed = await client.indices.analyze({ index: `${prefix}-${collection}-v1`, field, text: 'Buffer cwe-787 a/b' });
      expect(analyzed.tokens?.map((t) => t.token)).toEqual(['Buffer', 'cwe-787', 'a/b']);
    }

    // BM25 with the language filter: C nodes and language-neutral ones, not Python.
    const text = await kb.searchText('nodes', 'text', 'buffer', 10, { language: 'c' });
    expect(ids(text).sort()).toEqual(['any:CWE-787', 'n-c']);
    expect(text.every((h) => h.score > 0)).toBe(true);
    expect(text.find((h) => h.id === 'any:CWE-787')).toMatchObject({ cwes: ['CWE-787'], language: '' });
    // neutral: the CWE-level nodes only, on their CWE-level fields.
    expect(ids(await kb.searchText('nodes', 'doc_terms', 'shell buffer', 10, { neutral: true })).sort()).toEqual(['any:CWE-78', 'any:CWE-787']);
    expect(ids(await kb.searchText('nodes', 'text', 'os command', 10, { neutral: true }))).toEqual(['any:CWE-78']);
    // Examples: exact language, kind, node ids; hits carry their node.
    expect(await kb.searchText('examples', 'api_text', 'subprocess.run', 5)).toEqual([expect.objectContaining({ id: 'e-py', nodeId: 'n-py', cwes: ['CWE-78'], language: 'python' })]);
    expect(await kb.searchText('examples', 'code_text', 'strncpy shell', 5, { kind: 'fix' })).toEqual([expect.objectContaining({ id: 'e-c' })]);
    expect(await kb.searchText('examples', 'api_text', 'strncpy', 5, { nodeIds: ['n-py'] })).toEqual([]);
    // Documents: kind and CWEs over the cwes array; hits carry every CWE.
    const help = await kb.searchText('documents', 'terms', 'buffer overflow', 5, { kind: 'codeql-help', cwes: ['CWE-120'] });
    expect(help).toEqual([expect.objectContaining({ id: 'codeql:cpp/overflow', cwes: ['CWE-787', 'CWE-120'], language: 'cpp' })]);
    expect(await kb.searchText('documents', 'terms', 'shell', 5, { kind: 'codeql-help' })).toEqual([]);

    // kNN: cosine recovered from _score; the zero-vector node is never a candidate.
    const near = await kb.searchVector('nodes', vec(1, 0, 0, 0), 10, { cwe: 'CWE-787' });
    expect(ids(near)).toEqual(['n-c', 'any:CWE-787']);
    expect(near[0].score).toBeCloseTo(1, 5);
    expect(near[1].score).toBeCloseTo(0.9 / Math.hypot(0.9, 0.1), 5);
    expect(ids(await kb.searchVector('nodes', vec(0, 0, 1, 0), 10, { neutral: true }))).toEqual(['any:CWE-78', 'any:CWE-787']);
    expect(ids(await kb.searchVector('examples', vec(0, 0, 1, 0), 5, { language: 'python' }))).toEqual(['e-py']);

    const extra: IndexedNode = { id: 'n-js', cwe: 'CWE-79', language: 'javascript', text: 'cross site script', apiText: 'innerhtml', causeVector: vec(0, 1, 0, 0) };
    const second = await kb.publish('v2', knowledge({ nodes: [...nodes, extra] }), { dims: 4 });
    expect(second).toMatchObject({ version: 'v2', previousVersion: 'v1', deletedVersions: [] });
    expect(await kb.liveVersion()).toBe('v2');
    for (const c of ['nodes', 'examples', 'documents']) expect(Object.keys(await client.indices.getAlias({ name: `${prefix}-${c}` }))).toEqual([`${prefix}-${c}-v2`]);
    expect(await kb.counts()).toEqual({ nodes: 6, examples: 2, documents: 2 });
    // The previous version is still readable by name until pruned.
    expect(await (await elasticsearchSearchFor(url as string, prefix, client)('v1')).counts()).toEqual({ nodes: 5, examples: 2, documents: 2 });

    // Rerunning the live version is a no-op.
    expect(await kb.publish('v2', knowledge({ nodes: [...nodes, extra] }), { dims: 4 })).toMatchObject({ alreadyLive: true });

    // A document ES refuses (a keyword term over 32766 bytes) fails the publish; v2 keeps serving.
    const immense: IndexedDocument = { ...documents[0], id: 'd-bad', cwes: ['x'.repeat(40_000)] };
    const failed = await kb.publish('v3', knowledge({ documents: [...documents, immense] }), { dims: 4 }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(failed).toBeInstanceOf(KnowledgeIndexPublishError);
    expect(failed).toMatchObject({ stage: 'bulk', failures: [expect.objectContaining({ collection: 'documents', id: 'd-bad', status: 400 })] });
    expect(await kb.liveVersion()).toBe('v2');
    expect(await client.indices.exists({ index: `${prefix}-documents-v3` })).toBe(false);
    await expect(elasticsearchSearchFor(url as string, prefix, client)('v3')).rejects.toThrow(/is not in Elasticsearch/);

    // keep 2 of v4, v2, v1 (v3 was deleted when it failed): v1 goes, its three indices with it.
    const fourth = await kb.publish('v4', knowledge(), { dims: 4, keep: 2 });
    expect(fourth.deletedVersions).toEqual(['v1']);
    for (const c of ['nodes', 'examples', 'documents']) expect(await client.indices.exists({ index: `${prefix}-${c}-v1` })).toBe(false);
    expect(await client.indices.exists({ index: `${prefix}-documents-v2` })).toBe(true);
  });

  it("stores a version's KB documents and reads them back, pages included", async () => {
    const docs = new ElasticsearchKbDocuments(client, prefix);
    const many = Array.from({ length: 1234 }, (_, i) => ({ id: `n${i}`, guidelines: [`g${i}`] }));
    const termCounts = { documents: 3, terms: { overflow: 2, 'os.system': 1 } };
    const written = { manifest: { version: 'v9' }, embedder: '{"m":1}', termCounts, nodes: many, examples: [{ id: 'e1' }], documents: [{ id: 'codeql:cpp/overflow', cwes: ['CWE-787'] }] };
    expect(await docs.write('v9', written)).toEqual({ documents: 1239 });
    expect(await docs.read('v9')).toEqual({ ...written, calibration: undefined });
    await docs.writeCalibration('v9', { thresholds: { text: 1 } });
    expect((await docs.read('v9')).calibration).toEqual({ thresholds: { text: 1 } });
    await docs.delete(['v9']);
    await expect(docs.read('v9')).rejects.toThrow(/has no documents/);
  });
});
