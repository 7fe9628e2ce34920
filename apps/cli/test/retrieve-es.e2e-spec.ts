import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { prebuiltKb } from '@rescue/testing';

const run = promisify(execFile);
const root = resolve(__dirname, '../../..');
const bin = join(root, 'bin/rescue.js');

interface SearchRequest {
  path: string;
  body: { _source?: unknown; query?: { term?: { kind?: string } }; knn?: { field: string }; search_after?: number[]; size?: number };
}

/** Other answers than `_search` on the search indices: `METHOD path` → status and body. */
type Routes = Record<string, { status?: number; body?: unknown } | ((req: SearchRequest) => unknown)>;

/**
 * Answers Elasticsearch's `_search` API the way the documented responses look (no ranking: fixed
 * hits per kind of search), and records what the CLI asked. Only the wiring is under test here:
 * the adapter's requests are pinned by the contract tests in libs/retrieval.
 */
function fakeElasticsearch(
  answers: (req: SearchRequest) => { _id: string; _score: number; _source?: unknown }[],
  indices: string[] = [],
  routes: Routes = {},
): Promise<{ server: Server; url: string; requests: SearchRequest[] }> {
  const requests: SearchRequest[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let data = '';
    req.on('data', (c: Buffer) => (data += c.toString('utf8')));
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      // The 8.x client refuses a server that does not say it is Elasticsearch.
      res.setHeader('x-elastic-product', 'Elasticsearch');
      const path = (req.url ?? '').split('?')[0];
      const route = routes[`${req.method} ${path}`];
      if (route) {
        const request = { path, body: data ? JSON.parse(data) : {} };
        if (typeof route === 'function') return void res.end(JSON.stringify(route(request)));
        res.statusCode = route.status ?? 200;
        return void res.end(JSON.stringify(route.body ?? {}));
      }
      if (req.method === 'HEAD') {
        // The indices-exists API: 200 when every named index exists, else 404.
        const named = decodeURIComponent(path.slice(1)).split(',');
        res.statusCode = named.every((n) => indices.includes(n)) ? 200 : 404;
        return void res.end();
      }
      if (!path.endsWith('/_search')) {
        res.statusCode = 404;
        return void res.end(JSON.stringify({ error: { type: 'not_found' }, status: 404 }));
      }
      const request = { path, body: data ? JSON.parse(data) : {} };
      requests.push(request);
      const hits = answers(request).map((h) => ({ _index: path.split('/')[1], ...h }));
      res.end(JSON.stringify({ took: 1, timed_out: false, _shards: { total: 1, successful: 1, skipped: 0, failed: 0 }, hits: { max_score: hits[0]?._score ?? null, hits } }));
    });
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests })));
}

describe('rescue retrieve --es (searches on Elasticsearch, documents from the KB folder)', () => {
  let dir: string;
  let version: string;
  let sqlExample: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rescue-retrieve-es-'));
    version = readFileSync(join(await prebuiltKb(dir), 'CURRENT'), 'utf8').trim();
    const examples = readFileSync(join(dir, 'kb', 'versions', version, 'examples.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { id: string; cwe: string; language: string });
    sqlExample = (examples.find((e) => e.cwe === 'CWE-89' && e.language === 'python') as { id: string }).id;
  }, 60_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** What the fake answers: one CWE-89 node, example and document, whatever was asked. */
  const answers = (req: SearchRequest): { _id: string; _score: number; _source?: unknown }[] => {
    if (req.path.includes('-nodes-')) return req.body.knn ? [] : [{ _id: 'any:CWE-89', _score: 4.5, _source: { cwe: 'CWE-89', language: '' } }];
    if (req.path.includes('-documents-')) return [{ _id: 'codeql:py/sql-injection', _score: 3.2, _source: { cwes: ['CWE-89'], language: 'python' } }];
    const example = { cwe: 'CWE-89', language: 'python', node_id: 'python:CWE-89' };
    return req.body.knn ? [{ _id: sqlExample, _score: 0.95, _source: example }] : [{ _id: sqlExample, _score: 9.5, _source: example }];
  };
  const indices = (): string[] => [`acme-nodes-${version}`, `acme-examples-${version}`, `acme-documents-${version}`];

  it("sends every search to the KB version's own indices and builds the answer from what ES returned", async () => {
    const es = await fakeElasticsearch(answers, indices());
    try {
      const task = 'def find(db, name):\n    # look the user up by name\n    cur = db.cursor()\n';
      const out = JSON.parse((await run('node', [bin, 'retrieve', task, '--language', 'python', '--kb', join(dir, 'kb'), '--es', es.url, '--es-prefix', 'acme'])).stdout);
      expect(out.cwes[0].cwe).toBe('CWE-89');
      expect(out.example.id).toBe(sqlExample);
      expect(out.example.score).toBeGreaterThan(0);
      expect(out.guidelines.length).toBeGreaterThan(0);
      const paths = new Set(es.requests.map((r) => r.path));
      expect([...paths].sort()).toEqual([`/acme-documents-${version}/_search`, `/acme-examples-${version}/_search`, `/acme-nodes-${version}/_search`]);
      // The CWE-level facets (fixes, CWE documents, catalogue, CodeQL help, descriptions) and both code-level facets reached ES.
      for (const field of ['"code_text"', '"doc_terms"', '"catalog_terms"', '"terms"', '"api_text"']) expect(es.requests.some((r) => JSON.stringify(r.body).includes(field))).toBe(true);
      expect(es.requests.some((r) => r.body.knn?.field === 'code_vector')).toBe(true);
    } finally {
      es.server.close();
    }
  });

  it('serves a KB from Elasticsearch alone (--kb <url>): live version, documents and searches all from ES', async () => {
    const versionDir = join(dir, 'kb', 'versions', version);
    const lines = (file: string): { id: string }[] =>
      readFileSync(join(versionDir, file), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
    const stored: Record<string, { id: string }[]> = {
      node: lines('nodes.jsonl'),
      example: lines('examples.jsonl'),
      document: readFileSync(join(versionDir, 'documents.jsonl'), 'utf8').trim() ? lines('documents.jsonl') : [],
    };
    const docs = `/acme-docs-${version}`;
    const doc = (id: string, body: unknown) => ({ body: { _index: docs.slice(1), _id: id, _version: 1, found: true, _source: { kind: id, ord: 0, body } } });
    const es = await fakeElasticsearch(answers, indices(), {
      'GET /_alias/acme-nodes': { body: { [`acme-nodes-${version}`]: { aliases: { 'acme-nodes': {} } } } },
      'GET /_alias/acme-examples': { body: { [`acme-examples-${version}`]: { aliases: { 'acme-examples': {} } } } },
      'GET /_alias/acme-documents': { body: { [`acme-documents-${version}`]: { aliases: { 'acme-documents': {} } } } },
      [`GET ${docs}/_doc/manifest`]: doc('manifest', JSON.parse(readFileSync(join(versionDir, 'manifest.json'), 'utf8'))),
      [`GET ${docs}/_doc/embedder`]: doc('embedder', { json: readFileSync(join(versionDir, 'embedder.json'), 'utf8') }),
      [`GET ${docs}/_doc/term-counts`]: doc('term-counts', { json: readFileSync(join(versionDir, 'term-counts.json'), 'utf8') }),
      [`GET ${docs}/_doc/calibration`]: { status: 404, body: { _index: docs.slice(1), _id: 'calibration', found: false } },
      [`POST ${docs}/_search`]: (req) => {
        const kind = req.body.query?.term?.kind as string;
        const from = req.body.search_after ? req.body.search_after[0] + 1 : 0;
        const page = stored[kind].slice(from, from + (req.body.size ?? 10));
        return {
          took: 1,
          timed_out: false,
          _shards: { total: 1, successful: 1, skipped: 0, failed: 0 },
          hits: { hits: page.map((body, i) => ({ _id: `${kind}:${body.id}`, _score: null, _source: { kind, ord: from + i, body }, sort: [from + i] })) },
        };
      },
    });
    try {
      const task = 'def find(db, name):\n    # look the user up by name\n    cur = db.cursor()\n';
      // No KB folder anywhere: run from an empty directory.
      const empty = mkdtempSync(join(tmpdir(), 'rescue-no-kb-'));
      const out = JSON.parse((await run('node', [bin, 'retrieve', task, '--language', 'python', '--kb', es.url, '--es-prefix', 'acme'], { cwd: empty })).stdout);
      rmSync(empty, { recursive: true, force: true });
      expect(out.cwes[0].cwe).toBe('CWE-89');
      expect(out.example.id).toBe(sqlExample);
      expect(out.example.code).toContain('(name,)');
      expect(out.guidelines.length).toBeGreaterThan(0);
      const paths = new Set(es.requests.map((r) => r.path));
      expect(paths).toEqual(new Set([`/acme-nodes-${version}/_search`, `/acme-examples-${version}/_search`, `/acme-documents-${version}/_search`]));
    } finally {
      es.server.close();
    }
  });

  it('says what to do when the version was never published there, before any search', async () => {
    const es = await fakeElasticsearch(() => [], [`acme-nodes-${version}`]);
    try {
      const attempt = run('node', [bin, 'retrieve', 'x = 1', '--language', 'python', '--kb', join(dir, 'kb'), '--es', es.url, '--es-prefix', 'acme']);
      await expect(attempt).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining(`KB version ${version} is not in Elasticsearch`) });
      await expect(attempt).rejects.toMatchObject({ stderr: expect.stringContaining('rescue kb build --es') });
      expect(es.requests).toEqual([]);
    } finally {
      es.server.close();
    }
  });

  it('names Elasticsearch, without credentials, when it cannot be reached', async () => {
    const attempt = run('node', [bin, 'retrieve', 'x = 1', '--language', 'python', '--kb', join(dir, 'kb'), '--es', 'http://elastic:s3cret@127.0.0.1:9']);
    await expect(attempt).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining('Elasticsearch at http://127.0.0.1:9 did not answer') });
    await expect(attempt.catch((e: { stderr: string }) => e.stderr)).resolves.not.toContain('s3cret');
  });
});
