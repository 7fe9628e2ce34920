// Contract tests of the KB documents index: the requests sent, and what is made of the answers
// (hand-written in ES 8.x's documented shapes; see fixtures/README.md).
import { ElasticsearchKbDocuments } from '../../src/knowledge-index/elasticsearch-kb-documents';
import { ScriptedElasticsearch } from './es-script';

const PREFIX = 'acme';
const V = 'kb-3333333333333333';
const INDEX = `${PREFIX}-docs-${V}`;
const shards = { total: 1, successful: 1, skipped: 0, failed: 0 };
const bulkOk = (ids: string[]) => ({ took: 3, errors: false, items: ids.map((id) => ({ index: { _index: INDEX, _id: id, _version: 1, result: 'created', status: 201, _shards: shards, _seq_no: 0, _primary_term: 1 } })) });
const getDoc = (id: string, source: unknown) => ({ _index: INDEX, _id: id, _version: 1, _seq_no: 0, _primary_term: 1, found: true, _source: source });
const notFound = (id: string) => ({ httpStatus: 404, body: { _index: INDEX, _id: id, found: false } });
const searchHits = (hits: { id: string; ord: number; body: unknown; kind: string }[]) => ({
  took: 1,
  timed_out: false,
  _shards: shards,
  hits: { max_score: null, hits: hits.map((h) => ({ _index: INDEX, _id: h.id, _score: null, _source: { kind: h.kind, ord: h.ord, body: h.body }, sort: [h.ord] })) },
});

describe('ElasticsearchKbDocuments', () => {
  it('writes every document in one index per version, opaque bodies, then refreshes and counts', async () => {
    const es = new ScriptedElasticsearch();
    es.on('DELETE', `/${INDEX}`, { acknowledged: true })
      .on('PUT', `/${INDEX}`, { acknowledged: true, shards_acknowledged: true, index: INDEX })
      .on('POST', `/${INDEX}/_bulk`, bulkOk(['manifest', 'embedder', 'node:n1', 'node:n2', 'example:e1']))
      .on('GET', `/${INDEX}/_refresh`, { _shards: shards })
      .on('GET', `/${INDEX}/_count`, { count: 5, _shards: shards });
    const docs = new ElasticsearchKbDocuments(es.client(), PREFIX);
    const result = await docs.write(V, { manifest: { version: V }, embedder: '{"kind":"lsa"}', nodes: [{ id: 'n1' }, { id: 'n2' }], examples: [{ id: 'e1' }] });
    expect(result).toEqual({ documents: 5 });
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
      { index: { _id: 'node:n1' } },
      { kind: 'node', ord: 0, body: { id: 'n1' } },
      { index: { _id: 'node:n2' } },
      { kind: 'node', ord: 1, body: { id: 'n2' } },
      { index: { _id: 'example:e1' } },
      { kind: 'example', ord: 0, body: { id: 'e1' } },
    ]);
    expect(es.unused()).toEqual([]);
  });

  it('fails when a bulk item is refused, naming it', async () => {
    const es = new ScriptedElasticsearch();
    es.on('DELETE', `/${INDEX}`, { acknowledged: true })
      .on('PUT', `/${INDEX}`, { acknowledged: true, shards_acknowledged: true, index: INDEX })
      .on('POST', `/${INDEX}/_bulk`, { took: 1, errors: true, items: [{ index: { _index: INDEX, _id: 'manifest', status: 400, error: { type: 'document_parsing_exception', reason: 'bad' } } }] });
    await expect(new ElasticsearchKbDocuments(es.client(), PREFIX).write(V, { manifest: {}, nodes: [], examples: [] })).rejects.toThrow(/refused 1 of 1 KB documents of kb-3333333333333333 \(first: manifest: document_parsing_exception bad\)/);
  });

  it('reads the manifest, embedder and thresholds by id and pages nodes and examples with search_after', async () => {
    const es = new ScriptedElasticsearch();
    const page1 = Array.from({ length: 1000 }, (_, i) => ({ id: `node:n${i}`, ord: i, kind: 'node', body: { id: `n${i}` } }));
    es.on('GET', `/${INDEX}/_doc/manifest`, getDoc('manifest', { kind: 'manifest', ord: 0, body: { version: V } }))
      .on('GET', `/${INDEX}/_doc/embedder`, getDoc('embedder', { kind: 'embedder', ord: 0, body: { json: '{}' } }))
      .on('GET', `/${INDEX}/_doc/thresholds`, notFound('thresholds'))
      .on('POST', `/${INDEX}/_search`, searchHits(page1), searchHits([{ id: 'node:n1000', ord: 1000, kind: 'node', body: { id: 'n1000' } }]), searchHits([{ id: 'example:e1', ord: 0, kind: 'example', body: { id: 'e1' } }]));
    const docs = await new ElasticsearchKbDocuments(es.client(), PREFIX).read(V);
    expect(docs.manifest).toEqual({ version: V });
    expect(docs.embedder).toBe('{}');
    expect(docs.thresholds).toBeUndefined();
    expect(docs.nodes).toHaveLength(1001);
    expect(docs.nodes[1000]).toEqual({ id: 'n1000' });
    expect(docs.examples).toEqual([{ id: 'e1' }]);
    const searches = es.requests.filter((r) => r.path.endsWith('/_search')).map((r) => r.body);
    expect(searches).toEqual([
      { size: 1000, track_total_hits: false, query: { term: { kind: 'node' } }, sort: [{ ord: 'asc' }] },
      { size: 1000, track_total_hits: false, query: { term: { kind: 'node' } }, sort: [{ ord: 'asc' }], search_after: [999] },
      { size: 1000, track_total_hits: false, query: { term: { kind: 'example' } }, sort: [{ ord: 'asc' }] },
    ]);
  });

  it('says how to publish when a version has no documents', async () => {
    const es = new ScriptedElasticsearch();
    es.on('GET', `/${INDEX}/_doc/manifest`, { httpStatus: 404, body: { error: { type: 'index_not_found_exception' }, status: 404 } });
    await expect(new ElasticsearchKbDocuments(es.client(), PREFIX).read(V)).rejects.toThrow(/has no documents in Elasticsearch \(acme-docs-kb-3333333333333333\); publish it with `rescue kb build --es <url> --es-prefix acme`/);
  });

  it('replaces the thresholds document and deletes pruned versions\' documents', async () => {
    const es = new ScriptedElasticsearch();
    es.on('PUT', `/${INDEX}/_doc/thresholds`, { _index: INDEX, _id: 'thresholds', _version: 2, result: 'updated', _shards: shards, _seq_no: 1, _primary_term: 1 })
      .on('DELETE', `/${PREFIX}-docs-v1,${PREFIX}-docs-v2`, { acknowledged: true });
    const docs = new ElasticsearchKbDocuments(es.client(), PREFIX);
    await docs.writeThresholds(V, { thresholds: { text: 2 } });
    await docs.delete([]);
    await docs.delete(['v1', 'v2']);
    expect(es.requests.map((r) => `${r.method} ${r.path}`)).toEqual([`PUT /${INDEX}/_doc/thresholds`, `DELETE /${PREFIX}-docs-v1,${PREFIX}-docs-v2`]);
    expect(es.requests[0].body).toEqual({ kind: 'thresholds', ord: 0, body: { thresholds: { text: 2 } } });
    expect(es.requests[0].querystring).toEqual({ refresh: 'true' });
  });
});
