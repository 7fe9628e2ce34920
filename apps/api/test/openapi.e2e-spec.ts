import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Ajv2020 from 'ajv/dist/2020';
import { deletePrefix, prebuiltKb, uniquePrefix } from '@rescue/testing';
import { type RunningApi, startApi } from './api-harness';

const KEY = 'k-retrieve-0123456789abcdef';
const ADMIN = 'k-admin-000000000000000000';
const GENERATE = 'k-generate-00000000000000';

type Operation = { responses: Record<string, { content?: Record<string, { schema: object }> }> };
type Document = { paths: Record<string, Record<string, Operation>> };

/** The served routes, from Express's router: method and OpenAPI-style path. */
function servedRoutes(api: RunningApi): string[] {
  const express = api.app.getHttpAdapter().getInstance() as { router: { stack: { route?: { path: string; methods: Record<string, boolean> } }[] } };
  return express.router.stack.flatMap((layer) => (layer.route ? Object.keys(layer.route.methods).map((m) => `${m} ${layer.route?.path.replace(/:(\w+)/g, '{$1}')}`) : []));
}

describe('OpenAPI document', () => {
  let dir: string;
  let prefix: string;
  let api: RunningApi;
  let doc: Document;
  const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
  const checked = new Set<string>();

  /** Fails unless `res` is a documented answer of the route and its JSON body matches the documented schema. */
  async function conforms(method: string, template: string, res: Response): Promise<void> {
    const op = doc.paths[template]?.[method];
    expect({ route: `${method} ${template}`, documented: op !== undefined }).toEqual({ route: `${method} ${template}`, documented: true });
    const answer = op.responses[String(res.status)];
    expect({ route: `${method} ${template}`, status: res.status, documented: answer !== undefined }).toEqual({ route: `${method} ${template}`, status: res.status, documented: true });
    const type = (res.headers.get('content-type') ?? '').split(';')[0];
    const text = await res.text();
    if (answer.content) expect(Object.keys(answer.content)).toContain(type);
    const schema = answer.content?.[type]?.schema;
    if (type === 'application/json' && schema) {
      const validate = ajv.compile(schema);
      const ok = validate(JSON.parse(text));
      expect({ route: `${method} ${template} ${res.status}`, errors: ok ? null : validate.errors }).toEqual({ route: `${method} ${template} ${res.status}`, errors: null });
    }
    // NDJSON: the documented schema is one line's.
    if (type === 'application/x-ndjson' && schema) {
      const validate = ajv.compile(schema);
      const lines = text.split('\n').filter((l) => l.length > 0);
      expect(lines.length).toBeGreaterThan(0);
      const bad = lines.map((l) => (validate(JSON.parse(l)) ? null : validate.errors)).filter((e) => e !== null);
      expect({ route: `${method} ${template} ${res.status} ndjson`, errors: bad }).toEqual({ route: `${method} ${template} ${res.status} ndjson`, errors: [] });
    }
    checked.add(`${method} ${template} ${res.status}`);
  }
  const call = (path: string, init: RequestInit & { key?: string; json?: unknown } = {}): Promise<Response> =>
    fetch(`${api.url}${path}`, {
      ...init,
      headers: {
        ...(init.json !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(init.key ? { authorization: `Bearer ${init.key}` } : {}),
        ...(init.headers as Record<string, string> | undefined),
      },
      body: init.json !== undefined ? JSON.stringify(init.json) : init.body,
    });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rescue-openapi-'));
    await prebuiltKb(dir);
    prefix = uniquePrefix('api-openapi');
    api = await startApi({
      QUEUE_PREFIX: prefix,
      RESCUE_KB_DIR: join(dir, 'kb'),
      RESCUE_DATA_DIR: join(dir, 'data'),
      // The repo's examples: a build is started, never run (no workers here), to check its status' shape.
      KB_SOURCES_ROOT: join(__dirname, '../../../examples'),
      API_KEYS: `${KEY}@retrieve,${ADMIN}@admin,${GENERATE}@generate`,
      API_RATE_LIMIT_PER_MINUTE: '1000',
      API_BODY_LIMIT_BYTES: '65536',
    });
    await api.redisReady();
    const res = await fetch(`${api.url}/openapi.json`);
    expect(res.status).toBe(200);
    doc = (await res.json()) as Document;
  }, 60_000);
  afterAll(async () => {
    await api.close();
    await deletePrefix(prefix);
    rmSync(dir, { recursive: true, force: true });
  });

  it('is a valid OpenAPI 3.1 document (@seriousme/openapi-schema-validator)', async () => {
    const file = join(dir, 'openapi.json');
    writeFileSync(file, JSON.stringify(doc));
    // The validator is an ES module, which jest here cannot load; its own CLI runs it in Node.
    const cli = require.resolve('@seriousme/openapi-schema-validator/bin/validate-api-cli.js');
    const { stdout } = await promisify(execFile)(process.execPath, [cli, file]).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? String(err) }));
    expect(JSON.parse(stdout)).toMatchObject({ valid: true });
  });

  it('documents every route the API serves', () => {
    // The page's own files are not API routes.
    const assets = new Set(['get /docs/init.js', 'get /docs/{asset}']);
    const documented = new Set(Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m} ${path}`)));
    const served = servedRoutes(api).filter((r) => !assets.has(r));
    expect(served.length).toBeGreaterThan(10);
    expect(served.filter((r) => !documented.has(r))).toEqual([]);
  });

  it('retrieve: real answers match the document', async () => {
    await conforms(
      'post',
      '/v1/retrieve',
      await call('/v1/retrieve', { method: 'POST', key: KEY, json: { language: 'py', prompt: 'def find_user(db, name):\n    cur = db.cursor()\n', guidanceCwes: 2 } }),
    );
    await conforms('post', '/v1/retrieve', await call('/v1/retrieve', { method: 'POST', key: KEY, json: { language: 'rust', prompt: '/// Adds two numbers.\nfn add(a: i32, b: i32) -> i32 {\n' } }));
    await conforms('post', '/v1/retrieve', await call('/v1/retrieve', { method: 'POST', key: KEY, json: { language: '{cobol}', prompt: '' } }));
    await conforms('post', '/v1/retrieve', await call('/v1/retrieve', { method: 'POST', json: { language: 'python', prompt: 'x' } }));
    await conforms('post', '/v1/retrieve', await call('/v1/retrieve', { method: 'POST', key: ADMIN, json: { language: 'python', prompt: 'x' } }));
    await conforms('post', '/v1/retrieve', await call('/v1/retrieve', { method: 'POST', key: KEY, json: { language: 'python', prompt: 'x'.repeat(70_000) } }));
    for (const status of [200, 400, 401, 403, 413]) expect(checked).toContain(`post /v1/retrieve ${status}`);
  });

  it('operations routes: real answers match the document', async () => {
    await conforms('get', '/health/live', await call('/health/live'));
    await conforms('get', '/health/ready', await call('/health/ready'));
    await conforms('get', '/metrics', await call('/metrics', { key: ADMIN }));
    await conforms('get', '/metrics', await call('/metrics'));
    await conforms('get', '/metrics', await call('/metrics', { key: KEY }));
    await conforms('get', '/openapi.json', await call('/openapi.json'));
    await conforms('get', '/docs', await call('/docs'));
    // The page's files come from the package, not a CDN.
    const page = await (await call('/docs')).text();
    expect(page).not.toMatch(/https?:\/\//);
    expect((await call('/docs/swagger-ui-bundle.js')).status).toBe(200);
    expect((await call('/docs/index.html')).status).toBe(404);
  });

  it('job routes: their refusals and misses match the document', async () => {
    await conforms('get', '/v1/generation/batches/{id}', await call('/v1/generation/batches/no-such-batch', { key: GENERATE }));
    await conforms('get', '/v1/generation/batches/{id}', await call('/v1/generation/batches/no-such-batch', { key: KEY }));
    await conforms('post', '/v1/generation/batches', await call('/v1/generation/batches', { method: 'POST', key: GENERATE, json: { tasks: [{ id: 'a', language: '{x}', prompt: '' }] } }));
    await conforms('get', '/v1/kb/builds/{id}', await call('/v1/kb/builds/no-such-build', { key: ADMIN }));
    await conforms('get', '/v1/kb/versions', await call('/v1/kb/versions', { key: ADMIN }));
    await conforms('post', '/v1/kb/versions/{version}/publish', await call('/v1/kb/versions/kb-nope/publish', { method: 'POST', key: ADMIN }));
  });

  it('job routes: real answers (batch submit, status, results, cancel; build start and status; versions) match the document', async () => {
    // Without workers the tasks stay pending and the build queued: the answers carry `warnings`
    // naming the app to start, which the document must describe too.
    const tasks = [
      { id: 'a', language: 'python', prompt: 'def find_user(db, name):\n' },
      { id: 'b', language: 'python', prompt: 'def render(name):\n' },
      { id: 'bad', language: '{x}', prompt: '' },
    ];
    const submit = await call('/v1/generation/batches', { method: 'POST', key: GENERATE, json: { tasks, samples: 1 }, headers: { 'idempotency-key': 'openapi-spec-0001' } });
    const submitted = (await submit.clone().json()) as { id: string; rejected: number; rejectedTasks: { at: string }[] };
    await conforms('post', '/v1/generation/batches', submit);
    // The bad task is refused (one entry per bad field), the two good ones make the batch.
    expect(submitted.rejectedTasks.length).toBeGreaterThan(0);
    expect(submitted.rejectedTasks.every((r) => r.at === 'tasks.2')).toBe(true);
    await conforms(
      'post',
      '/v1/generation/batches',
      await call('/v1/generation/batches', { method: 'POST', key: GENERATE, json: { tasks, samples: 1 }, headers: { 'idempotency-key': 'openapi-spec-0001' } }),
    );
    await conforms(
      'post',
      '/v1/generation/batches',
      await call('/v1/generation/batches', { method: 'POST', key: GENERATE, json: { tasks, samples: 2 }, headers: { 'idempotency-key': 'openapi-spec-0001' } }),
    );
    const id = submitted.id;
    const status = await call(`/v1/generation/batches/${id}`, { key: GENERATE });
    const statusJson = (await status.clone().json()) as { status: string; warnings?: string[] };
    await conforms('get', '/v1/generation/batches/{id}', status);
    expect(statusJson.status).toBe('running');
    expect(statusJson.warnings?.length).toBeGreaterThan(0);
    await conforms('get', '/v1/generation/batches/{id}/results', await call(`/v1/generation/batches/${id}/results?limit=1`, { key: GENERATE }));
    await conforms('get', '/v1/generation/batches/{id}/results', await call(`/v1/generation/batches/${id}/results`, { key: GENERATE, headers: { accept: 'application/x-ndjson' } }));
    await conforms('get', '/v1/generation/batches/{id}/results', await call(`/v1/generation/batches/${id}/results?limit=0`, { key: GENERATE }));
    await conforms('get', '/v1/generation/batches/{id}/results', await call('/v1/generation/batches/no-such-batch/results', { key: GENERATE }));
    await conforms('post', '/v1/generation/batches/{id}/retry-failed', await call(`/v1/generation/batches/${id}/retry-failed`, { method: 'POST', key: GENERATE }));
    await conforms('post', '/v1/generation/batches/{id}/cancel', await call(`/v1/generation/batches/${id}/cancel`, { method: 'POST', key: GENERATE }));
    await conforms('post', '/v1/generation/batches/{id}/retry-failed', await call(`/v1/generation/batches/${id}/retry-failed`, { method: 'POST', key: GENERATE }));

    const start = await call('/v1/kb/builds', { method: 'POST', key: ADMIN, json: { sources: ['fix-pairs'] } });
    const build = (await start.clone().json()) as { id: string };
    await conforms('post', '/v1/kb/builds', start);
    const buildStatus = await call(`/v1/kb/builds/${build.id}`, { key: ADMIN });
    const buildJson = (await buildStatus.clone().json()) as { status: string; warnings?: string[] };
    await conforms('get', '/v1/kb/builds/{id}', buildStatus);
    expect(buildJson.status).toBe('queued');
    expect(buildJson.warnings?.length).toBeGreaterThan(0);
    await conforms('post', '/v1/kb/builds', await call('/v1/kb/builds', { method: 'POST', key: ADMIN, json: { sources: ['../etc'] } }));

    const versions = await call('/v1/kb/versions', { key: ADMIN });
    const listed = (await versions.clone().json()) as { current?: string; versions: unknown[] };
    await conforms('get', '/v1/kb/versions', versions);
    expect(listed.versions.length).toBeGreaterThan(0);
    await conforms('post', '/v1/kb/versions/{version}/publish', await call(`/v1/kb/versions/${listed.current}/publish`, { method: 'POST', key: ADMIN }));

    for (const answer of [
      'post /v1/generation/batches 201',
      'post /v1/generation/batches 200',
      'post /v1/generation/batches 409',
      'get /v1/generation/batches/{id} 200',
      'get /v1/generation/batches/{id}/results 200',
      'get /v1/generation/batches/{id}/results 400',
      'post /v1/generation/batches/{id}/retry-failed 409',
      'post /v1/generation/batches/{id}/cancel 200',
      'post /v1/kb/builds 202',
      'get /v1/kb/builds/{id} 200',
      'get /v1/kb/versions 200',
      'post /v1/kb/versions/{version}/publish 200',
    ])
      expect(checked).toContain(answer);
  });

  it('closes the objects it owns: an undocumented field in a job answer fails the check', () => {
    const schema = doc.paths['/v1/generation/batches/{id}'].get.responses['200'].content?.['application/json'].schema as object;
    expect(schema).toMatchObject({ additionalProperties: false });
    const validate = ajv.compile(schema);
    const base = {
      id: 'x',
      status: 'running',
      createdAt: 't',
      kbVersion: 'v',
      round: 1,
      counts: { total: 1, pending: 1, active: 0, done: 0, failed: 0, cancelled: 0 },
      rejected: 0,
      failuresByClass: {},
    };
    expect(validate(base)).toBe(true);
    expect(validate({ ...base, warnings: ['start a generator'] })).toBe(true);
    expect(validate({ ...base, surprise: 1 })).toBe(false);
  });
});
