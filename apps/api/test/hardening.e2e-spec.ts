import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { type Socket, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { deletePrefix, prebuiltKb, testRedisUrl, uniquePrefix } from '@rescue/testing';
import { type RunningApi, postJson, startApi } from './api-harness';

const RETRIEVE_KEY = 'k-retrieve-0123456789abcdef';
const ADMIN_KEY = 'k-admin-0123456789abcdef';
const ADMIN_DIGEST = createHash('sha256').update(ADMIN_KEY).digest('hex');
const KEYS = `${RETRIEVE_KEY}@retrieve,sha256:${ADMIN_DIGEST}@admin`;

interface RawAnswer {
  status: number;
  head: string;
  body: string;
  /** ms from sending the headers to the first byte of the answer. */
  answeredMs: number;
  /** Whether the server closed the connection. */
  closed: Promise<boolean>;
}

/**
 * Sends only the request head (and `firstBytes` of a body it never finishes), over a raw socket,
 * and reads the answer: what a slow or malicious client does, which fetch cannot.
 */
function rawRequest(url: string, head: Record<string, string>, opts: { path?: string; firstBytes?: string } = {}): Promise<RawAnswer & { socket: Socket }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let data = '';
    let t0 = 0;
    let answeredMs = -1;
    const closed = new Promise<boolean>((r) => {
      socket.on('close', () => r(true));
      setTimeout(() => r(false), 3000).unref();
    });
    socket.on('error', reject);
    socket.on('connect', () => {
      const lines = [`POST ${opts.path ?? '/v1/retrieve'} HTTP/1.1`, `host: ${hostname}`, ...Object.entries(head).map(([k, v]) => `${k}: ${v}`), '', ''];
      t0 = performance.now();
      socket.write(lines.join('\r\n'));
      if (opts.firstBytes) socket.write(opts.firstBytes);
    });
    socket.on('data', (chunk: Buffer) => {
      if (answeredMs < 0) answeredMs = performance.now() - t0;
      data += chunk.toString('utf8');
      const end = data.indexOf('\r\n\r\n');
      if (end < 0) return;
      const headText = data.slice(0, end);
      const length = Number(/content-length:\s*(\d+)/i.exec(headText)?.[1] ?? 0);
      if (data.length - end - 4 < length) return;
      resolve({ socket, status: Number(headText.split(' ')[1]), head: headText.toLowerCase(), body: data.slice(end + 4, end + 4 + length), answeredMs, closed });
    });
  });
}

describe('API hardening', () => {
  let dir: string;
  let prefix: string;
  let api: RunningApi | undefined;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rescue-api-hard-'));
    await prebuiltKb(dir);
  }, 60_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  beforeEach(() => {
    prefix = uniquePrefix('api-hard');
  });
  afterEach(async () => {
    await api?.close();
    api = undefined;
    await deletePrefix(prefix);
  });
  const start = async (env: Record<string, string> = {}): Promise<RunningApi> => {
    // The job endpoints keep batches under RESCUE_DATA_DIR: this test's folder, not the working tree.
    api = await startApi({ QUEUE_PREFIX: prefix, RESCUE_KB_DIR: join(dir, 'kb'), RESCUE_DATA_DIR: join(dir, 'data'), API_KEYS: KEYS, ...env });
    return api;
  };

  it('answers 401 from the headers alone: a 50 MB body that never arrives is not waited for, and the connection is closed', async () => {
    const { url } = await start({ API_BODY_DEADLINE_MS: '60000' });
    const answer = await rawRequest(url, { 'content-type': 'application/json', 'content-length': String(50 * 1024 * 1024) }, { firstBytes: '{"prompt":"' });
    expect(answer.status).toBe(401);
    // The body deadline is a minute: only answering before reading explains an answer this fast.
    expect(answer.answeredMs).toBeLessThan(2000);
    expect(answer.head).toContain('connection: close');
    expect(await answer.closed).toBe(true);
  });

  it('drops a stalled body after API_BODY_DEADLINE_MS with 408, for a caller with a valid key', async () => {
    const { url } = await start({ API_BODY_DEADLINE_MS: '500' });
    const t0 = performance.now();
    const answer = await rawRequest(url, { 'content-type': 'application/json', 'content-length': '1000', authorization: `Bearer ${RETRIEVE_KEY}` }, { firstBytes: '{"language":"python",' });
    const ms = performance.now() - t0;
    expect(answer.status).toBe(408);
    expect(ms).toBeGreaterThanOrEqual(450);
    expect(ms).toBeLessThan(3000);
    expect(JSON.parse(answer.body)).toMatchObject({ error: 'body-timeout', message: expect.stringContaining('API_BODY_DEADLINE_MS') });
    expect(await answer.closed).toBe(true);
  });

  it('lets a streamed upload take longer than the deadline while it moves, and drops it once it stops', async () => {
    const { url, redisReady } = await start({ API_BODY_DEADLINE_MS: '500', API_KEYS: `${RETRIEVE_KEY}@retrieve+generate` });
    await redisReady();
    const line = (i: number): string => `${JSON.stringify({ id: `t${i}`, language: 'python', prompt: 'def f():\n' })}\n`;
    const head = { 'content-type': 'application/x-ndjson', 'transfer-encoding': 'chunked', authorization: `Bearer ${RETRIEVE_KEY}` };
    const chunk = (text: string): string => `${Buffer.byteLength(text).toString(16)}\r\n${text}\r\n`;
    // Moving: a line every 200 ms for 1.4 s, then the end. Whatever the handler answers, it is not 408.
    const { hostname, port } = new URL(url);
    const sock = connect(Number(port), hostname);
    await new Promise((r) => sock.once('connect', r));
    let answer = '';
    sock.on('data', (c: Buffer) => (answer += c.toString()));
    sock.write([`POST /v1/generation/batches HTTP/1.1`, `host: ${hostname}`, ...Object.entries(head).map(([k, v]) => `${k}: ${v}`), '', ''].join('\r\n'));
    for (let i = 0; i < 7; i++) {
      sock.write(chunk(line(i)));
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(answer).toBe('');
    sock.write('0\r\n\r\n');
    await new Promise((r) => setTimeout(r, 1000));
    expect(answer).toMatch(/^HTTP\/1\.1 \d{3}/);
    expect(answer).not.toMatch(/^HTTP\/1\.1 408/);
    sock.destroy();
    // Stopped: one line, then nothing.
    const stalled = await rawRequest(url, head, { path: '/v1/generation/batches', firstBytes: chunk(line(0)) });
    expect(stalled.status).toBe(408);
    expect(JSON.parse(stalled.body)).toMatchObject({ error: 'body-timeout', message: expect.stringContaining('upload stopped') });
  });

  it('refuses a body over API_BODY_LIMIT_BYTES from its Content-Length, before reading it', async () => {
    const { url } = await start({ API_BODY_LIMIT_BYTES: '65536', API_BODY_DEADLINE_MS: '60000' });
    const answer = await rawRequest(url, { 'content-type': 'application/json', 'content-length': '70000', authorization: `Bearer ${RETRIEVE_KEY}` });
    expect(answer.status).toBe(413);
    expect(answer.answeredMs).toBeLessThan(2000);
    // Without a Content-Length (chunked), the parser stops at the same limit.
    const res = await postJson(url, '/v1/retrieve', { language: 'python', prompt: 'x'.repeat(70_000) }, RETRIEVE_KEY);
    expect(res.status).toBe(413);
  });

  it('checks scopes per route: retrieve needs retrieve, /metrics needs admin', async () => {
    const { url } = await start();
    const task = { language: 'python', prompt: 'import yaml\n' };
    expect((await postJson(url, '/v1/retrieve', task, RETRIEVE_KEY)).status).toBe(200);
    const forbidden = await postJson(url, '/v1/retrieve', task, ADMIN_KEY);
    expect(forbidden.status).toBe(403);
    expect(await forbidden.text()).not.toContain(ADMIN_KEY);
    expect((await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${RETRIEVE_KEY}` } })).status).toBe(403);
    expect((await fetch(`${url}/metrics`)).status).toBe(401);
    const metrics = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
    expect(metrics.status).toBe(200);
    // Probes need no key.
    expect((await fetch(`${url}/health/live`)).status).toBe(200);
  });

  it('limits requests per key in Redis: 429 with Retry-After past the budget, other keys unaffected', async () => {
    const { url, redisReady } = await start({ API_RATE_LIMIT_PER_MINUTE: '3' });
    // Before Redis is ready the memory limiter counts: a separate budget, which would blur this test.
    await redisReady();
    const task = { language: 'python', prompt: 'x = 1\n' };
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await postJson(url, '/v1/retrieve', task, RETRIEVE_KEY)).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    const limited = await postJson(url, '/v1/retrieve', task, RETRIEVE_KEY);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(Number(limited.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    // Probes are not limited.
    expect((await fetch(`${url}/health/live`)).status).toBe(200);
    // Another key has its own budget (its first request is counted, not refused).
    expect((await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })).status).toBe(200);
    // The counter is in Redis under the deployment's prefix, named by key id, never by the key.
    const redis = new Redis(testRedisUrl());
    try {
      const keys = await redis.keys(`${prefix}:api-rate*`);
      expect(keys.length).toBe(2);
      expect(keys.join(' ')).not.toContain(RETRIEVE_KEY);
    } finally {
      redis.disconnect();
    }
  });

  it('starts and retrieves without Redis; job endpoints answer 503; the rate limit still holds (in memory)', async () => {
    const { url } = await start({ REDIS_URL: 'redis://127.0.0.1:1', API_RATE_LIMIT_PER_MINUTE: '3', API_KEYS: `${RETRIEVE_KEY}@retrieve+generate` });
    // The job endpoints need Redis: 503 saying so, at once (this spends one of the key's three requests).
    const t0 = performance.now();
    const job = await fetch(`${url}/v1/generation/batches/some-batch`, { headers: { authorization: `Bearer ${RETRIEVE_KEY}` } });
    expect(job.status).toBe(503);
    expect(((await job.json()) as { error: string }).error).toBe('redis-unavailable');
    expect(performance.now() - t0).toBeLessThan(1000);
    const task = { language: 'python', prompt: 'def find_user(db, name):\n    # look the user up by name with an SQL query\n' };
    const first = await postJson(url, '/v1/retrieve', task, RETRIEVE_KEY);
    expect(first.status).toBe(200);
    expect(((await first.json()) as { cwes: { cwe: string }[] }).cwes[0].cwe).toBe('CWE-89');
    expect((await postJson(url, '/v1/retrieve', task, RETRIEVE_KEY)).status).toBe(200);
    expect((await postJson(url, '/v1/retrieve', task, RETRIEVE_KEY)).status).toBe(429);
  });

  it('answers 503 when a request outlives API_REQUEST_TIMEOUT_MS', async () => {
    // The first retrieval of a thread opens the KB (LanceDB, the gate's fit): well over 100 ms.
    const { url } = await start({ API_REQUEST_TIMEOUT_MS: '100' });
    const res = await postJson(url, '/v1/retrieve', { language: 'python', prompt: 'import yaml\n' }, RETRIEVE_KEY);
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: string }).error).toBe('timeout');
  });

  it('keeps answering ordinary requests while large prompts are being retrieved', async () => {
    const { url } = await start({ API_RATE_LIMIT_PER_MINUTE: '0' });
    const small = { language: 'python', prompt: 'def find_user(db, name):\n    cur = db.cursor()\n' };
    // Warm both pools' threads (each opens the KB once).
    expect((await postJson(url, '/v1/retrieve', small, RETRIEVE_KEY)).status).toBe(200);
    const bigPrompt = `${'def handler(request):\n    user = request.args.get("name")\n    query = "SELECT * FROM users WHERE name = " + user\n    cursor.execute(query)\n'.repeat(4000)}`.slice(
      0,
      500 * 1024,
    );
    const big = { language: 'python', prompt: bigPrompt };
    const t0 = performance.now();
    const bigDone = postJson(url, '/v1/retrieve', big, RETRIEVE_KEY).then((r) => ({ status: r.status, ms: performance.now() - t0 }));
    await new Promise((r) => setTimeout(r, 50));
    const smallTimes: number[] = [];
    for (let i = 0; i < 5; i++) {
      const s0 = performance.now();
      expect((await postJson(url, '/v1/retrieve', small, RETRIEVE_KEY)).status).toBe(200);
      smallTimes.push(performance.now() - s0);
    }
    const bigResult = await bigDone;
    expect(bigResult.status).toBe(200);
    // Were the large prompt's work on the event loop, the small requests would wait for all of it.
    const smallTotal = smallTimes.reduce((a, b) => a + b, 0);
    process.stdout.write(`large prompt ${bigResult.ms.toFixed(0)} ms; five ordinary requests beside it ${smallTimes.map((t) => t.toFixed(0)).join(', ')} ms\n`);
    expect(smallTotal).toBeLessThan(bigResult.ms);
  });

  it('logs each request as a JSON line with its id, and never the key', async () => {
    const api = await start();
    const res = await fetch(`${api.url}/v1/retrieve`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${RETRIEVE_KEY}`, 'x-request-id': 'req-abc-123' },
      body: JSON.stringify({ language: 'python', prompt: 'x = 1\n' }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe('req-abc-123');
    await postJson(api.url, '/v1/retrieve', { language: 'python', prompt: 'x = 1\n' }, 'guess-guess-guess-guess-0');
    const lines = api
      .logs()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { req?: { id: string; url: string }; res?: { statusCode: number }; keyId?: string });
    const done = lines.find((l) => l.req?.id === 'req-abc-123');
    expect(done).toMatchObject({ req: { url: '/v1/retrieve' }, res: { statusCode: 200 }, keyId: expect.stringMatching(/^[0-9a-f]{12}$/) });
    expect(lines.some((l) => l.res?.statusCode === 401)).toBe(true);
    expect(api.logs()).not.toContain(RETRIEVE_KEY);
    expect(api.logs()).not.toContain('guess-guess');
  });
});
