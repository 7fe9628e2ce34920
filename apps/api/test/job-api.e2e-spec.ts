import { type ChildProcess, spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { type IncomingHttpHeaders, type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import { Queue } from 'bullmq';
import { QueueName } from '@rescue/contracts';
import { connectionOptions } from '@rescue/queue';
import { FakeOpenAiServer, deletePrefix, testRedisUrl, uniquePrefix } from '@rescue/testing';
import { verifyWebhook } from '../src/webhooks/webhook-signature';

// The job API end to end: the built API and every worker app as processes, real Redis (a prefix of
// its own), the fake OpenAI-compatible server for the generator, and a local HTTP server receiving
// the webhooks. The test speaks only HTTP to the API; it reads Redis only to count jobs.

const root = resolve(__dirname, '../../..');
const SECRET = 'whsec-0123456789abcdef0123456789abcdef';
const N = 200;

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}
interface BatchStatus {
  id: string;
  status: string;
  round: number;
  counts: { total: number; pending: number; active: number; done: number; failed: number; cancelled: number };
  rejected: number;
  failuresByClass: Record<string, number>;
  rejectedTasks?: { at: string; field: string; message: string }[];
}
interface ResultItem {
  id: string;
  status: string;
  result?: { id: string; samples: { code: string }[]; kbVersion: string };
  error?: { class: string };
}

// Response bodies of many shapes, read field by field by the assertions (a wrong field fails them).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyJson = any;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

/** The generate queue's job count in one state, from the API's Prometheus text. */
function queueGauge(text: string, state: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith('rescue_queue_jobs{') && l.includes(`queue="${QueueName.Generate}"`) && l.includes(`state="${state}"`));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

describe('job API: KB builds and generation batches over HTTP, real workers and Redis', () => {
  let dir: string;
  let prefix: string;
  let env: NodeJS.ProcessEnv;
  let api: string;
  let fake: FakeOpenAiServer;
  let receiver: Server;
  let hookUrl: string;
  const hooks: Received[] = [];
  let failNextHook = true;
  const children: ChildProcess[] = [];
  const logs = new Map<string, string>();

  const start = (app: string, ready: () => Promise<boolean>): Promise<void> => {
    const child = spawn(process.execPath, [join(root, `dist/apps/${app}/src/main.js`)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    logs.set(app, '');
    const onData = (b: Buffer): void => void logs.set(app, (logs.get(app) ?? '') + b.toString());
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    let exited = false;
    child.once('exit', () => (exited = true));
    return until(
      `${app} to start`,
      async () => {
        if (exited) throw new Error(`${app} exited before starting:\n${logs.get(app)}`);
        return (await ready()) ? true : undefined;
      },
      60_000,
    ).then(() => undefined);
  };
  const workerStarted = (app: string) => async () => (logs.get(app) ?? '').includes('started');

  const http = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; json: AnyJson; text: string }> => {
    const res = await fetch(`${api}${path}`, {
      method,
      headers: { ...(body !== undefined && typeof body !== 'string' ? { 'content-type': 'application/json' } : {}), ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      if (!(err instanceof SyntaxError)) throw err;
    }
    return { status: res.status, headers: res.headers, json, text };
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rescue-jobapi-'));
    // The sources root the API allows: our examples, and a link that points out of it.
    const sources = join(dir, 'sources');
    mkdirSync(sources);
    cpSync(join(root, 'examples/fix-pairs'), join(sources, 'fix-pairs'), { recursive: true });
    cpSync(join(root, 'examples/cwe-catalog-sample.csv'), join(sources, 'catalog.csv'));
    symlinkSync(join(root, 'examples'), join(sources, 'outside'));
    prefix = uniquePrefix('jobapi');
    fake = await FakeOpenAiServer.start({ latencyMs: 2, defaultReply: '```python\nreturn 1\n```' });
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        // The first delivery is refused, so the API's retry is exercised.
        if (failNextHook) {
          failNextHook = false;
          res.writeHead(503).end();
          return;
        }
        hooks.push({ headers: req.headers, body });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks/rescue?token=abc`;
    const port = await freePort();
    api = `http://127.0.0.1:${port}`;
    env = {
      ...process.env,
      REDIS_URL: testRedisUrl(),
      QUEUE_PREFIX: prefix,
      RECORD_STORE: 'fs',
      RESCUE_DATA_DIR: join(dir, 'data'),
      RESCUE_KB_DIR: join(dir, 'kb'),
      KB_SOURCES_ROOT: sources,
      LLM_BASE_URL: fake.baseUrl,
      LLM_API_KEY: 'sk-test',
      LLM_MODEL: 'fake',
      LLM_CACHE: 'none',
      GENERATOR_CONCURRENCY: '8',
      WEBHOOK_SECRET: SECRET,
      // The receiver is on loopback, which the SSRF guard refuses unless told.
      WEBHOOK_ALLOW_PRIVATE: 'true',
      JOB_WATCH_INTERVAL_MS: '200',
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
    };
    delete env.API_KEYS;
    // The summarize workers distil extractively (no LLM_BASE_URL for them), as the API asks by default.
    const summarizeEnv = { ...env };
    delete summarizeEnv.LLM_BASE_URL;
    await Promise.all([
      start('ingest', workerStarted('ingest')),
      start('slicer', workerStarted('slicer')),
      start('indexer', workerStarted('indexer')),
      start('generator', workerStarted('generator')),
      start(
        'api',
        async () =>
          await fetch(`${api}/health/live`).then(
            (r) => r.ok,
            () => false,
          ),
      ),
    ]);
    const saved = env;
    env = summarizeEnv;
    await start('cluster-summarize', workerStarted('cluster-summarize'));
    env = saved;
  }, 90_000);

  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    await fake?.close();
    await new Promise((r) => receiver?.close(r));
    await deletePrefix(prefix);
    rmSync(dir, { recursive: true, force: true });
  });

  /** Fails unless `body` matches what the OpenAPI document says `method path` answers with `status`. */
  const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
  let openapi: AnyJson;
  const matchesDocument = async (method: string, path: string, status: number, body: unknown): Promise<void> => {
    openapi ??= (await http('GET', '/openapi.json')).json;
    const validate = ajv.compile(openapi.paths[path][method].responses[String(status)].content['application/json'].schema);
    expect({ route: `${method} ${path} ${status}`, errors: validate(body) ? null : validate.errors }).toEqual({ route: `${method} ${path} ${status}`, errors: null });
  };

  const followBuild = (id: string) =>
    until(
      `build ${id}`,
      async () => {
        const { json } = await http('GET', `/v1/kb/builds/${id}`);
        if (json.status === 'failed') throw new Error(`build failed: ${json.error}`);
        return json.status === 'published' ? json : undefined;
      },
      60_000,
    );

  it('refuses sources outside KB_SOURCES_ROOT: .., absolute paths, and links that point out', async () => {
    for (const source of ['../sources/../../etc', '/etc/passwd', 'outside/fix-pairs']) {
      const res = await http('POST', '/v1/kb/builds', { sources: [source] });
      expect(res.status).toBe(400);
      expect(res.json.message).toMatch(/sources\.0: .*(outside KB_SOURCES_ROOT|absolute|does not exist)/);
    }
    expect((await http('POST', '/v1/kb/builds', { sources: ['fix-pairs'], hops: 99 })).json.problems).toEqual([{ field: 'hops', message: expect.any(String) }]);
  });

  it("reports a build that fails, with the first failure's reason, and a build it does not know", async () => {
    const up = await http('POST', '/v1/kb/builds', '{"language": "python"}\nnot json\n', { 'content-type': 'application/x-ndjson' });
    expect(up.status).toBe(202);
    const failed = await until(
      'the build to fail',
      async () => {
        const { json } = await http('GET', `/v1/kb/builds/${up.json.id}`);
        return json.status === 'failed' ? json : undefined;
      },
      30_000,
    );
    expect(failed.error).toMatch(/DatasetIngest .*no valid fix pair/);
    expect(failed.stages.ingest).toMatchObject({ total: 1, failed: 1 });
    expect((await http('GET', '/v1/kb/builds/bnope')).status).toBe(404);
    expect((await http('POST', '/v1/kb/builds', 'x', { 'content-type': 'text/csv' })).status).toBe(415);
  }, 60_000);

  let firstVersion: string;

  it('builds from named sources, reports progress per stage, then from an upload; a rollback moves CURRENT back', async () => {
    const started = await http('POST', '/v1/kb/builds', { sources: ['fix-pairs'], catalog: 'catalog.csv' });
    expect(started.status).toBe(202);
    expect(started.headers.get('location')).toBe(`/v1/kb/builds/${started.json.id}`);
    const built = await followBuild(started.json.id);
    expect(Object.keys(built.stages)).toEqual(['ingest', 'slice', 'summarize', 'index']);
    for (const stage of Object.values(built.stages) as { total: number; completed: number; failed: number }[]) {
      expect(stage.total).toBeGreaterThan(0);
      expect(stage.completed).toBe(stage.total);
    }
    expect(built.ingest.kept).toBe(15);
    // A published build (stages, ingest report, manifest) and the versions list, as documented.
    await matchesDocument('get', '/v1/kb/builds/{id}', 200, built);
    firstVersion = built.version;
    expect((await http('GET', '/v1/kb/versions')).json.current).toBe(firstVersion);

    // The same fix pairs' generic file alone, uploaded as a JSONL stream: another version.
    const upload = readFileSync(join(root, 'examples/fix-pairs/generic-sample.jsonl'), 'utf8');
    const up = await http('POST', '/v1/kb/builds?hops=1', upload, { 'content-type': 'application/x-ndjson' });
    expect(up.status).toBe(202);
    const second = await followBuild(up.json.id);
    expect(second.ingest.kept).toBe(12);
    expect(second.version).not.toBe(firstVersion);
    const versions = (await http('GET', '/v1/kb/versions')).json;
    await matchesDocument('get', '/v1/kb/versions', 200, versions);
    expect(versions.current).toBe(second.version);
    expect(versions.versions.map((v: { version: string }) => v.version).sort()).toEqual([firstVersion, second.version].sort());

    const rollback = await http('POST', `/v1/kb/versions/${firstVersion}/publish`);
    expect(rollback.json).toEqual({ current: firstVersion, previous: second.version });
    expect((await http('GET', '/v1/kb/versions')).json.current).toBe(firstVersion);
    expect((await http('POST', '/v1/kb/versions/kb-0000000000000000/publish')).status).toBe(404);
  }, 120_000);

  it('runs a 200-task batch once per Idempotency-Key, pages its results, re-attempts the failures and signs its webhooks', async () => {
    fake.script([
      { match: /explain why code is vulnerable/, reply: JSON.stringify({ cause: 'c' }) },
      { match: /BROKEN/, fault: { kind: 'status', status: 400 } },
    ]);
    const templates = [
      'def find_user(db, name):\n    # look the user up by name\n',
      'def render(name):\n    # the greeting page\n',
      'def read_file(base, name):\n    # open the named file under base\n',
      'def run(cmd):\n    # run the command\n',
      'def add(a, b):\n',
    ];
    // Every tenth task is one the fake LLM refuses (a 400, not retried) until it is told otherwise.
    const tasks = Array.from({ length: N }, (_, i) => ({ id: `t${i}`, language: 'python', prompt: `${templates[i % templates.length]}    # variant ${i}${i % 10 === 3 ? ' BROKEN' : ''}\n` }));
    const body = { tasks, samples: 1, webhookUrl: hookUrl };
    const key = 'batch-key-0001';
    const first = await http('POST', '/v1/generation/batches', body, { 'idempotency-key': key });
    expect(first.status).toBe(201);
    const id = first.json.id as string;
    const again = await http('POST', '/v1/generation/batches', body, { 'idempotency-key': key });
    expect(again.status).toBe(200);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.json.id).toBe(id);
    const other = await http('POST', '/v1/generation/batches', { ...body, samples: 2 }, { 'idempotency-key': key });
    expect(other.status).toBe(409);

    const generate = new Queue(QueueName.Generate, { connection: connectionOptions('worker', testRedisUrl()) as never, prefix });
    try {
      const jobCount = async (): Promise<number> => Object.values(await generate.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'completed', 'failed')).reduce((a, b) => a + b, 0);
      expect(await jobCount()).toBe(N);

      const settled = await until(
        'the batch to settle',
        async () => {
          const s = (await http('GET', `/v1/generation/batches/${id}`)).json as BatchStatus;
          return s.status === 'completed' ? s : undefined;
        },
        90_000,
      );
      expect(settled.counts).toEqual({ total: N, pending: 0, active: 0, done: N - 20, failed: 20, cancelled: 0 });
      expect(settled.failuresByClass).toEqual({ LlmRequestRejectedError: 20 });
      await matchesDocument('get', '/v1/generation/batches/{id}', 200, settled);
      // /metrics agrees with the batch: this prefix's generate queue holds this batch's jobs only
      // (the builds above use other queues), one job per task, a refused task's job failed once.
      const metrics1 = (await http('GET', '/metrics')).text;
      expect({ completed: queueGauge(metrics1, 'completed'), failed: queueGauge(metrics1, 'failed'), active: queueGauge(metrics1, 'active'), waiting: queueGauge(metrics1, 'waiting') }).toEqual({
        completed: settled.counts.done,
        failed: settled.counts.failed,
        active: settled.counts.active,
        waiting: settled.counts.pending,
      });

      // Pages of 64, in submit order: every task exactly once, each page (done and failed items) as documented.
      const seen: ResultItem[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = (await http('GET', `/v1/generation/batches/${id}/results?limit=64${cursor ? `&cursor=${cursor}` : ''}`)).json as { items: ResultItem[]; nextCursor?: string };
        await matchesDocument('get', '/v1/generation/batches/{id}/results', 200, page);
        seen.push(...page.items);
        cursor = page.nextCursor;
        pages += 1;
      } while (cursor);
      expect(pages).toBe(Math.ceil(N / 64));
      expect(seen.map((r) => r.id)).toEqual(tasks.map((t) => t.id));
      expect(seen.filter((r) => r.status === 'done').every((r) => r.result?.samples[0].code === 'return 1' && r.result.kbVersion === firstVersion)).toBe(true);
      expect(seen.filter((r) => r.status === 'failed').map((r) => r.id)).toEqual(tasks.filter((t) => t.prompt.includes('BROKEN')).map((t) => t.id));
      expect((await http('GET', `/v1/generation/batches/${id}/results?cursor=bm9wZQ`)).status).toBe(400);

      // The webhook for round 1 (its first delivery refused, then retried), signed.
      const hook1 = await until('the first webhook', async () => hooks[0], 30_000);
      expect(verifyWebhook(SECRET, { timestamp: hook1.headers['x-rescue-timestamp'] as string, signature: hook1.headers['x-rescue-signature'] as string }, hook1.body)).toBe(true);
      expect(
        verifyWebhook('another-secret-of-thirty-two-chars!!', { timestamp: hook1.headers['x-rescue-timestamp'] as string, signature: hook1.headers['x-rescue-signature'] as string }, hook1.body),
      ).toBe(false);
      expect(JSON.parse(hook1.body)).toMatchObject({ event: 'generation.batch.completed', batch: { id, round: 1, counts: { done: N - 20, failed: 20 } } });

      // The model is fixed; the failed tasks run again, each as a new attempt.
      fake.script([{ match: /explain why code is vulnerable/, reply: JSON.stringify({ cause: 'c' }) }]);
      const retried = await http('POST', `/v1/generation/batches/${id}/retry-failed`);
      expect(retried.json).toEqual({ retried: 20, round: 2 });
      const done = await until(
        'the re-attempt to settle',
        async () => {
          const s = (await http('GET', `/v1/generation/batches/${id}`)).json as BatchStatus;
          return s.status === 'completed' ? s : undefined;
        },
        60_000,
      );
      expect(done.counts).toMatchObject({ total: N, done: N, failed: 0 });
      // One new job per re-attempted task; the failed ones are kept for people to read.
      expect(await jobCount()).toBe(N + 20);
      expect(await generate.getFailedCount()).toBe(20);
      // /metrics after round 2: every task's last job completed; the round-1 failures stay in the
      // failed set (kept a week for people to read), so `failed` is round 1's count, not round 2's.
      const metrics2 = (await http('GET', '/metrics')).text;
      expect({ completed: queueGauge(metrics2, 'completed'), failed: queueGauge(metrics2, 'failed') }).toEqual({ completed: done.counts.done, failed: settled.counts.failed });

      const hook2 = await until('the second webhook', async () => hooks[1], 30_000);
      expect(verifyWebhook(SECRET, { timestamp: hook2.headers['x-rescue-timestamp'] as string, signature: hook2.headers['x-rescue-signature'] as string }, hook2.body)).toBe(true);
      expect(JSON.parse(hook2.body)).toMatchObject({ batch: { id, round: 2, counts: { done: N, failed: 0 } } });

      // Streamed as NDJSON: every task once, all done now.
      const stream = await fetch(`${api}/v1/generation/batches/${id}/results`, { headers: { accept: 'application/x-ndjson' } });
      expect(stream.headers.get('content-type')).toMatch(/application\/x-ndjson/);
      const lines = (await stream.text())
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as ResultItem);
      expect(lines.map((l) => l.id)).toEqual(tasks.map((t) => t.id));
      expect(lines.every((l) => l.status === 'done')).toBe(true);
      await sleep(500);
      expect(hooks).toHaveLength(2);
    } finally {
      await generate.close();
    }
  }, 150_000);

  it('keeps the valid tasks of a batch with bad ones, and cancels what has not run', async () => {
    fake.script([
      { match: /explain why code is vulnerable/, reply: JSON.stringify({ cause: 'c' }) },
      { match: /SLOW/, latencyMs: 400 },
    ]);
    const ndjson = [
      ...Array.from({ length: 40 }, (_, i) => JSON.stringify({ id: `s${i}`, language: 'python', prompt: `def f${i}(x):\n    # SLOW ${i}\n` })),
      JSON.stringify({ id: 'bad', language: '{cobol}', prompt: 'x' }),
      '{not json',
    ].join('\n');
    const res = await http('POST', '/v1/generation/batches?samples=1', ndjson, { 'content-type': 'application/x-ndjson' });
    expect(res.status).toBe(201);
    expect(res.json.counts.total).toBe(40);
    expect(res.json.rejected).toBe(2);
    expect(res.json.rejectedTasks).toEqual([
      { at: 'line 42', field: '(line)', message: expect.stringContaining('not JSON') },
      { at: 'line 41', field: 'language', message: expect.stringContaining('"{cobol}"') },
    ]);
    const cancelled = (await http('POST', `/v1/generation/batches/${res.json.id}/cancel`)).json as BatchStatus;
    expect(cancelled.counts.cancelled).toBeGreaterThan(0);
    const final = await until(
      'the cancelled batch to settle',
      async () => {
        const s = (await http('GET', `/v1/generation/batches/${res.json.id}`)).json as BatchStatus;
        return s.status === 'cancelled' ? s : undefined;
      },
      30_000,
    );
    expect(final.counts.done + final.counts.failed + final.counts.cancelled).toBe(40);
    expect(final.counts.cancelled).toBe(cancelled.counts.cancelled);
    expect((await http('POST', `/v1/generation/batches/${res.json.id}/retry-failed`)).status).toBe(409);
    expect((await http('GET', '/v1/generation/batches/gnope')).status).toBe(404);
  }, 60_000);
});
