// Contract tests of opening a KB version's Elasticsearch indices for searching.
import { NotFoundError, TransientUpstreamError } from '@rescue/domain';
import { elasticsearchSearchFor } from '../../src/knowledge-index/elasticsearch/client';
import { ScriptedElasticsearch } from './es-script';
import aliasMissing from './fixtures/get-alias-missing.json';

const URL = 'http://user:secret@es.example:9200';
const V = 'kb-2222222222222222';
const ALL = `/rescue-kb-nodes-${V},rescue-kb-examples-${V},rescue-kb-documents-${V}`;

describe('elasticsearchSearchFor', () => {
  it('checks the three indices of the version in one request and searches them, not the aliases', async () => {
    const es = new ScriptedElasticsearch();
    es.on('HEAD', ALL, {});

    const index = await elasticsearchSearchFor(URL, 'rescue-kb', es.client())(V);

    expect(es.requests).toEqual([{ method: 'HEAD', path: ALL, querystring: { allow_no_indices: 'false' }, body: null }]);
    expect(index.target).toEqual({ nodes: `rescue-kb-nodes-${V}`, examples: `rescue-kb-examples-${V}`, documents: `rescue-kb-documents-${V}` });
  });

  it('names the three indices and how to publish when one is missing, without the credentials', async () => {
    const es = new ScriptedElasticsearch();
    // The body of a 404 to HEAD is never read; any error body will do.
    es.on('HEAD', ALL, { httpStatus: 404, body: aliasMissing });

    const open = elasticsearchSearchFor(URL, 'rescue-kb', es.client())(V);

    await expect(open).rejects.toThrow(
      `KB version ${V} is not in Elasticsearch at http://es.example:9200 under prefix "rescue-kb" (rescue-kb-nodes-${V}, rescue-kb-examples-${V}, rescue-kb-documents-${V}); publish it with \`rescue kb build --es http://es.example:9200 --es-prefix rescue-kb\``,
    );
    // Not there: a queue does not retry it.
    await expect(open).rejects.toBeInstanceOf(NotFoundError);
  });

  it('says the cluster did not answer when the request fails', async () => {
    const es = new ScriptedElasticsearch();
    es.on('HEAD', ALL, { connectionError: 'connect ECONNREFUSED' });

    const open = elasticsearchSearchFor(URL, 'rescue-kb', es.client())(V);
    await expect(open).rejects.toThrow(/^Elasticsearch at http:\/\/es.example:9200 did not answer \(connect ECONNREFUSED\)/);
    await expect(open).rejects.toBeInstanceOf(TransientUpstreamError);
  });
});
