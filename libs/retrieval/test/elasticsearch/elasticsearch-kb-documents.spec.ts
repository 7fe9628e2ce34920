// Contract tests of the KB documents index: the requests sent, and what is made of the answers
// (hand-written in ES 8.x's documented shapes; see fixtures/README.md).
import { InvalidInputError, TransientUpstreamError } from '@rescue/domain';
import { ElasticsearchKbDocuments, type KbDocuments } from '../../src/knowledge-index/elasticsearch/kb-documents';
import { ScriptedElasticsearch, type Reply } from './es-script';

const PREFIX = 'acme';
const V = 'kb-3333333333333333';
const INDEX = `${PREFIX}-docs-${V}`;
const shards = { total: 1, successful: 1, skipped: 0, failed: 0 };
const bulkOk = (ids: string[]) => ({
  took: 3,
  errors: false,
  items: ids.map((id) => ({ index: { _index: INDEX, _id: id, _version: 1, result: 'created', status: 201, _shards: shards, _seq_no: 0, _primary_term: 1 } })),
});
const getDoc = (id: string, source: unknown) => ({ _index: INDEX, _id: id, _version: 1, _seq_no: 0, _primary_term: 1, found: true, _source: source });
const notFound = (id: string) => ({ httpStatus: 404, body: { _index: INDEX, _id: id, found: false } });
const searchHits = (hits: { id: string; ord: number; body: unknown; kind: string }[]) => ({
  took: 1,
  timed_out: false,
  _shards: shards,
  hits: { max_score: null, hits: hits.map((h) => ({ _index: INDEX, _id: h.id, _score: null, _source: { kind: h.kind, ord: h.ord, body: h.body }, sort: [h.ord] })) },
});
const scriptWrite = (es: ScriptedElasticsearch, ids: string[]): ScriptedElasticsearch =>
  es
    .on('DELETE', `/${INDEX}`, { acknowledged: true })
    .on('PUT', `/${INDEX}`, { acknowledged: true, shards_acknowledged: true, index: INDEX })
    .on('POST', `/${INDEX}/_bulk`, bulkOk(ids))
    .on('GET', `/${INDEX}/_refresh`, { _shards: shards })
    .on('GET', `/${INDEX}/_count`, { count: ids.length, _shards: shards });

describe('ElasticsearchKbDocuments', () => {
  it('writes every document in one index per version, opaque bodies, then refreshes and counts', async () => {
    const es = new ScriptedElasticsearch();
    scriptWrite(es, ['manifest', 'embedder', 'calibration', 'term-counts', 'node:n1', 'node:n2', 'example:e1', 'document:d1']);
    const docs = new ElasticsearchKbDocuments(es.client(), PREFIX);
    const result = await docs.write(V, {
      manifest: { version: V },
      embedder: '{"kind":"lsa"}',
      calibration: { thresholds: { text: 2 } },
      termCounts: { documents: 2, terms: { overflow: 2, 'sql.inject': 1 } },
      nodes: [{ id: 'n1' }, { id: 'n2' }],
      examples: [{ id: 'e1' }],
      documents: [{ id: 'd1' }],
    });
    expect(result).toEqual({ documents: 8 });
    expect(es.requests.map((r) => `${r.method} ${r.path}`)).toEqual([`DELETE /${INDEX}`, `PUT /${INDEX}`, `POST /${INDEX}/_bulk`, `GET /${INDEX}/_refresh`, `GET /${INDEX}/_count`]);
    expect(es.requests[0].querystring).toEqual({ ignore_unavailable: 'true' });
    expect(es.requests[1].body).toEqual({
      settings: { number_of_shards: 1, auto_expand_replicas: '0-1' },
      mappings: { dynamic: 'strict', properties: { kind: { type: 'keyword' }, ord: { type: 'long' }, body: { type: 'object', enabled: false } } },
    });
    expect(es.requests[2].body).toEqual([
      { index: { _id: 'manifest' } },
      { kind: 'manifest', ord: 0, body: { version: V } },
      { index: { _id: 'embedder' } },
      { kind: 'embedder', ord: 0, body: { json: '{"kind":"lsa"}' } },
      { index: { _id: 'calibration' } },
      { kind: 'calibration', ord: 0, body: { thresholds: { text: 2 } } },
      // The term counts as one JSON string: ES never sees their keys.
      { index: { _id: 'term-counts' } },
      { kind: 'term-counts', ord: 0, body: { json: '{"documents":2,"terms":{"overflow":2,"sql.inject":1}}' } },
      { index: { _id: 'node:n1' } },
      { kind: 'node', ord: 0, body: { id: 'n1' } },
      { index: { _id: 'node:n2' } },
      { kind: 'node', ord: 1, body: { id: 'n2' } },
      { index: { _id: 'example:e1' } },
      { kind: 'example', ord: 0, body: { id: 'e1' } },
      { index: { _id: 'document:d1' } },
      { kind: 'document', ord: 0, body: { id: 'd1' } },
    ]);
    expect(es.unused()).toEqual([]);
  });

  it('leaves out the optional single documents when absent', async () => {
    const es = new ScriptedElasticsearch();
    scriptWrite(es, ['manifest']);
    await new ElasticsearchKbDocuments(es.client(), PREFIX).write(V, { manifest: { version: V }, nodes: [], examples: [], documents: [] });
    expect(es.requests[2].body).toEqual([{ index: { _id: 'manifest' } }, { kind: 'manifest', ord: 0, body: { version: V } }]);
  });

  it('fails when a bulk item is refused, naming it', async () => {
    const es = new ScriptedElasticsearch();
    es.on('DELETE', `/${INDEX}`, { acknowledged: true })
      .on('PUT', `/${INDEX}`, { acknowledged: true, shards_acknowledged: true, index: INDEX })
      .on('POST', `/${INDEX}/_bulk`, { took: 1, errors: true, items: [{ index: { _index: INDEX, _id: 'manifest', status: 400, error: { type: 'document_parsing_exception', reason: 'bad' } } }] });
    await expect(new ElasticsearchKbDocuments(es.client(), PREFIX).write(V, { manifest: {}, nodes: [], examples: [], documents: [] })).rejects.toThrow(
      /refused 1 of 1 KB documents of kb-3333333333333333 \(first: manifest: document_parsing_exception bad\)/,
    );
  });

  it('resends a document answered 429, and fails as transient when it stays throttled', async () => {
    const throttled = { took: 1, errors: true, items: [{ index: { _index: INDEX, _id: 'manifest', status: 429, error: { type: 'es_rejected_execution_exception', reason: 'busy' } } }] };
    const write = (replies: Record<string, unknown>[]) => {
      const es = new ScriptedElasticsearch();
      scriptWrite(es, ['manifest'])
        .clear('POST', `/${INDEX}/_bulk`)
        .on('POST', `/${INDEX}/_bulk`, ...replies);
      return { es, done: new ElasticsearchKbDocuments(es.client(), PREFIX, { retries: 1, wait: 0 }).write(V, { manifest: {}, nodes: [], examples: [], documents: [] }) };
    };

    const recovered = write([throttled, bulkOk(['manifest'])]);
    await expect(recovered.done).resolves.toEqual({ documents: 1 });
    expect(recovered.es.requests.filter((r) => r.path.endsWith('/_bulk'))).toHaveLength(2);

    const stuck = write([throttled, throttled]);
    const err = await stuck.done.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TransientUpstreamError);
    expect(err).not.toBeInstanceOf(InvalidInputError);
    expect((err as Error).message).toContain('refused 1 of 1 KB documents of kb-3333333333333333 (first: manifest: too_many_requests still throttled after 2 attempts)');
  });

  it('reads the single documents by id and pages nodes, examples and documents with search_after', async () => {
    const es = new ScriptedElasticsearch();
    const page1 = Array.from({ length: 1000 }, (_, i) => ({ id: `node:n${i}`, ord: i, kind: 'node', body: { id: `n${i}` } }));
    es.on('GET', `/${INDEX}/_doc/manifest`, getDoc('manifest', { kind: 'manifest', ord: 0, body: { version: V } }))
      .on('GET', `/${INDEX}/_doc/embedder`, getDoc('embedder', { kind: 'embedder', ord: 0, body: { json: '{}' } }))
      .on('GET', `/${INDEX}/_doc/term-counts`, getDoc('term-counts', { kind: 'term-counts', ord: 0, body: { json: '{"overflow":3}' } }))
      .on('GET', `/${INDEX}/_doc/calibration`, notFound('calibration'))
      .on(
        'POST',
        `/${INDEX}/_search`,
        searchHits(page1),
        searchHits([{ id: 'node:n1000', ord: 1000, kind: 'node', body: { id: 'n1000' } }]),
        searchHits([{ id: 'example:e1', ord: 0, kind: 'example', body: { id: 'e1' } }]),
        searchHits([{ id: 'document:d1', ord: 0, kind: 'document', body: { id: 'd1', kind: 'codeql-help' } }]),
      );
    const docs = await new ElasticsearchKbDocuments(es.client(), PREFIX).read(V);
    expect(docs.manifest).toEqual({ version: V });
    expect(docs.embedder).toBe('{}');
    expect(docs.termCounts).toEqual({ overflow: 3 });
    expect(docs.calibration).toBeUndefined();
    expect(docs.nodes).toHaveLength(1001);
    expect(docs.nodes[1000]).toEqual({ id: 'n1000' });
    expect(docs.examples).toEqual([{ id: 'e1' }]);
    expect(docs.documents).toEqual([{ id: 'd1', kind: 'codeql-help' }]);
    const searches = es.requests.filter((r) => r.path.endsWith('/_search')).map((r) => r.body);
    expect(searches).toEqual([
      { size: 1000, track_total_hits: false, query: { term: { kind: 'node' } }, sort: [{ ord: 'asc' }] },
      { size: 1000, track_total_hits: false, query: { term: { kind: 'node' } }, sort: [{ ord: 'asc' }], search_after: [999] },
      { size: 1000, track_total_hits: false, query: { term: { kind: 'example' } }, sort: [{ ord: 'asc' }] },
      { size: 1000, track_total_hits: false, query: { term: { kind: 'document' } }, sort: [{ ord: 'asc' }] },
    ]);
    expect(es.unused()).toEqual([]);
  });

  /** Writes `written`, then reads it back from what reached the wire, served as a server would store it. */
  async function roundTrip(written: KbDocuments): Promise<KbDocuments> {
    const writer = new ScriptedElasticsearch();
    const ids = [
      'manifest',
      ...(['embedder', 'calibration', 'termCounts'] as const).filter((k) => written[k] !== undefined).map((k) => (k === 'termCounts' ? 'term-counts' : k)),
      ...written.nodes.map((n) => `node:${n.id}`),
      ...written.examples.map((e) => `example:${e.id}`),
      ...written.documents.map((d) => `document:${d.id}`),
    ];
    scriptWrite(writer, ids);
    await new ElasticsearchKbDocuments(writer.client(), PREFIX).write(V, written);

    const lines = writer.requests.find((r) => r.path.endsWith('/_bulk'))?.body as Record<string, unknown>[];
    const stored = new Map<string, { kind: string; ord: number; body: unknown }>();
    for (let i = 0; i < lines.length; i += 2) stored.set((lines[i].index as { _id: string })._id, lines[i + 1] as { kind: string; ord: number; body: unknown });
    const reader = new ScriptedElasticsearch();
    for (const id of ['manifest', 'embedder', 'term-counts', 'calibration']) {
      const source = stored.get(id);
      reader.on('GET', `/${INDEX}/_doc/${id}`, (source ? getDoc(id, source) : notFound(id)) as Reply);
    }
    const ofKind = (kind: string) => searchHits([...stored.entries()].filter(([, d]) => d.kind === kind).map(([id, d]) => ({ id, ...d })));
    reader.on('POST', `/${INDEX}/_search`, ofKind('node'), ofKind('example'), ofKind('document'));
    const read = await new ElasticsearchKbDocuments(reader.client(), PREFIX).read(V);
    expect(writer.unused()).toEqual([]);
    expect(reader.unused()).toEqual([]);
    return read;
  }

  it('round-trips everything it writes, documents and term counts included', async () => {
    const knowledgeDocuments = [
      { id: 'codeql:cpp/overflow-buffer', kind: 'codeql-help', cwes: ['CWE-787'] },
      { id: 'desc:1', kind: 'description', cwes: ['CWE-78'] },
    ];
    const written: KbDocuments = {
      manifest: { version: V, counts: { nodes: 1 } },
      embedder: '{"kind":"lsa","rank":2}',
      calibration: { thresholds: { text: 1.5 } },
      termCounts: { documents: 3, terms: { overflow: 2, 'os.system': 1, '': 1, __proto__x: 4 } },
      nodes: [{ id: 'n1' }],
      examples: [{ id: 'e1' }, { id: 'e2' }],
      documents: knowledgeDocuments,
    };
    expect(await roundTrip(written)).toEqual(written);
  });

  it('gives term counts back in the form they were given: an object as an object, JSON text as the same text', async () => {
    const text = '{"documents":3,"terms":{"overflow":2}}';
    const read = await roundTrip({ manifest: { version: V }, termCounts: text, nodes: [], examples: [], documents: [] });
    expect(read.termCounts).toBe(text);
    expect(read.embedder).toBeUndefined();
    expect(read.calibration).toBeUndefined();
  });

  it('refuses a stored embedder or term-counts document that holds no JSON string', async () => {
    const es = new ScriptedElasticsearch();
    es.on('GET', `/${INDEX}/_doc/manifest`, getDoc('manifest', { kind: 'manifest', ord: 0, body: { version: V } })).on(
      'GET',
      `/${INDEX}/_doc/embedder`,
      getDoc('embedder', { kind: 'embedder', ord: 0, body: { model: 'lsa' } }),
    );
    await expect(new ElasticsearchKbDocuments(es.client(), PREFIX).read(V)).rejects.toThrow(/the embedder document in acme-docs-kb-3333333333333333 holds no JSON string/);
  });

  it('says how to publish when a version has no documents', async () => {
    const es = new ScriptedElasticsearch();
    es.on('GET', `/${INDEX}/_doc/manifest`, { httpStatus: 404, body: { error: { type: 'index_not_found_exception' }, status: 404 } });
    await expect(new ElasticsearchKbDocuments(es.client(), PREFIX).read(V)).rejects.toThrow(
      /has no documents in Elasticsearch \(acme-docs-kb-3333333333333333\); publish it with `rescue kb build --es <url> --es-prefix acme`/,
    );
  });

  it("replaces the calibration document and deletes pruned versions' documents", async () => {
    const es = new ScriptedElasticsearch();
    es.on('PUT', `/${INDEX}/_doc/calibration`, { _index: INDEX, _id: 'calibration', _version: 2, result: 'updated', _shards: shards, _seq_no: 1, _primary_term: 1 }).on(
      'DELETE',
      `/${PREFIX}-docs-v1,${PREFIX}-docs-v2`,
      { acknowledged: true },
    );
    const docs = new ElasticsearchKbDocuments(es.client(), PREFIX);
    await docs.writeCalibration(V, { thresholds: { text: 2 } });
    await docs.delete([]);
    await docs.delete(['v1', 'v2']);
    expect(es.requests.map((r) => `${r.method} ${r.path}`)).toEqual([`PUT /${INDEX}/_doc/calibration`, `DELETE /${PREFIX}-docs-v1,${PREFIX}-docs-v2`]);
    expect(es.requests[0].body).toEqual({ kind: 'calibration', ord: 0, body: { thresholds: { text: 2 } } });
    expect(es.requests[0].querystring).toEqual({ refresh: 'true' });
  });
});
