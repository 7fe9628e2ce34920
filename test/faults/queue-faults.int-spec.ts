import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Queue } from 'bullmq';
import { QueueName } from '@rescue/contracts';
import type { CodingTask } from '@rescue/datasets';
import { runDistributedBuild } from '@rescue/pipeline';
import { classify } from '@rescue/domain';
import { FakeOpenAiServer, deletePrefix, prebuiltKb, testRedisUrl, uniquePrefix } from '@rescue/testing';
import { type DistributedBatchSummary, type DistributedGenerateConfig, generateDistributed } from '../../apps/cli/src/commands/generate-distributed';

/**
 * Fault tests through the real queue: generator worker processes (the built app), Redis (the test
 * run's, or our own redis-server for the Redis faults), the fake OpenAI-compatible server, and the
 * distributed generate command's own code. Each case asserts that every task ends exactly once in
 * the output (0 lost, 0 duplicated) and that a clear outcome comes within a bounded time; the table
 * of outcomes goes to RESCUE_FAULT_TABLE when set.
 */

const root = resolve(__dirname, '../..');
const workerMain = join(root, 'dist/apps/generator/src/main.js');
const CODE_REPLY = '```python\nreturn 1\n```';

interface Row {
  fault: string;
  outcome: string;
  jobs: number;
  lost: number;
  duplicated: number;
  seconds: number;
}
const rows: Row[] = [];

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => ok(port));
    });
    srv.on('error', fail);
  });
}

async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** Every redis-server a test started: afterAll stops those a failed or timed-out test left running. */
const ownRedises = new Set<OwnRedis>();

/** A redis-server of our own (AOF on or off) that a test may kill -9 and restart on the same port and folder. */
class OwnRedis {
  private proc?: ChildProcess;
  readonly dir = mkdtempSync(join(tmpdir(), 'rescue-fault-redis-'));
  constructor(
    readonly port: number,
    private readonly aof: boolean,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const args = [
      '--port',
      String(this.port),
      '--bind',
      '127.0.0.1',
      '--dir',
      this.dir,
      '--save',
      '',
      '--appendonly',
      this.aof ? 'yes' : 'no',
      '--appendfsync',
      'always',
      '--maxmemory-policy',
      'noeviction',
    ];
    this.proc = spawn('redis-server', args, { stdio: 'ignore' });
    ownRedises.add(this);
    const { Redis } = await import('ioredis');
    await until(
      `redis-server on ${this.port}`,
      async () => {
        const probe = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
        probe.on('error', () => undefined);
        try {
          await probe.connect();
          // With AOF, the server answers LOADING until the file is replayed.
          return (await probe.ping()) === 'PONG';
        } catch {
          return false;
        } finally {
          probe.disconnect();
        }
      },
      10_000,
    );
  }

  async kill9(): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null) return;
    proc.kill('SIGKILL');
    await new Promise((r) => proc.once('exit', r));
  }

  async stop(): Promise<void> {
    await this.kill9();
    ownRedises.delete(this);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

describe('queue faults (generator workers, real Redis, fake LLM)', () => {
  let dir: string;
  let kbDir: string;
  let fake: FakeOpenAiServer;
  const workers: ChildProcess[] = [];
  const prefixes: string[] = [];

  beforeAll(async () => {
    if (!existsSync(workerMain)) throw new Error(`${workerMain} is missing: run npm run build first (npm test does)`);
    dir = mkdtempSync(join(tmpdir(), 'rescue-faults-'));
    kbDir = await prebuiltKb(dir);
    fake = await FakeOpenAiServer.start({ defaultReply: CODE_REPLY });
  }, 120_000);

  afterEach(async () => {
    await Promise.all(workers.splice(0).map(stopWorker));
    fake.setFault(undefined);
    fake.setLatency(0);
  });

  afterAll(async () => {
    for (const redis of [...ownRedises]) await redis.stop();
    await fake?.close();
    for (const p of prefixes) await deletePrefix(p).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    const table = [
      '| fault | outcome | jobs | lost | duplicated | seconds to clear outcome |',
      '|---|---|---|---|---|---|',
      ...rows.map((r) => `| ${r.fault} | ${r.outcome} | ${r.jobs} | ${r.lost} | ${r.duplicated} | ${r.seconds} |`),
    ].join('\n');
    const target = process.env.RESCUE_FAULT_TABLE;
    if (target) writeFileSync(target, `# Queue fault tests (test/faults/queue-faults.int-spec.ts)\n\n${table}\n`);
  });

  function scriptFake(): void {
    fake.script([{ match: /explain why code is vulnerable/, reply: JSON.stringify({ cause: 'c' }) }]);
  }

  function tasks(label: string, n: number): CodingTask[] {
    return Array.from({ length: n }, (_, i) => ({ id: `${label}-${i}`, language: 'python', prompt: `def ${label.replace(/\W/g, '_')}_${i}(db, name):\n    cur = db.cursor()\n` }) as CodingTask);
  }

  function setup(label: string, redisUrl = testRedisUrl(), extra: Partial<DistributedGenerateConfig> = {}) {
    const prefix = uniquePrefix(`fault-${label}`);
    prefixes.push(prefix);
    const dataDir = join(dir, `data-${label}`);
    const config: DistributedGenerateConfig = { REDIS_URL: redisUrl, QUEUE_PREFIX: prefix, QUEUE_WAIT_TIMEOUT_MS: 3000, RESCUE_DATA_DIR: dataDir, RECORD_STORE: 'fs', ...extra };
    const workerEnv: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      REDIS_URL: redisUrl,
      QUEUE_PREFIX: prefix,
      RECORD_STORE: 'fs',
      RESCUE_DATA_DIR: dataDir,
      LLM_BASE_URL: fake.baseUrl,
      LLM_API_KEY: 'sk-test',
      LLM_MODEL: 'fake',
      LLM_CACHE: 'none',
      GENERATOR_CONCURRENCY: '2',
      HEALTH_PORT: '0',
    };
    const out = join(dir, `${label}.jsonl`);
    const input = (ts: CodingTask[]) => ({ tasks: ts, out, kbDir, samples: 1, style: 'chat' as const, temperature: 0.2, guidance: { cwes: 1, tokens: 1500 } });
    return { prefix, config, workerEnv, out, input };
  }

  async function startWorker(env: NodeJS.ProcessEnv): Promise<ChildProcess & { log: () => string }> {
    const child = spawn(process.execPath, [workerMain], { env, stdio: ['ignore', 'pipe', 'pipe'] }) as ChildProcess & { log: () => string };
    let text = '';
    child.stdout?.on('data', (b: Buffer) => (text += b.toString()));
    child.stderr?.on('data', (b: Buffer) => (text += b.toString()));
    child.log = () => text;
    workers.push(child);
    await until(
      'the generator worker to start',
      () => {
        if (child.exitCode !== null) throw new Error(`generator exited (${child.exitCode}): ${text}`);
        return text.includes('started');
      },
      30_000,
    );
    return child;
  }

  async function stopWorker(child: ChildProcess): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
  }

  /** Lines of the output per task id: a result (no error) or a failure class. */
  function outcomes(out: string): Map<string, Array<string>> {
    const byId = new Map<string, string[]>();
    if (!existsSync(out)) return byId;
    for (const line of readFileSync(out, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      const v = JSON.parse(line) as { id: string; error?: { class: string } };
      byId.set(v.id, [...(byId.get(v.id) ?? []), v.error ? v.error.class : 'ok']);
    }
    return byId;
  }

  /** Lost: tasks with no line; duplicated: extra lines of a task. */
  function account(out: string, ts: CodingTask[]): { lost: number; duplicated: number; ok: number; classes: Record<string, number> } {
    const byId = outcomes(out);
    const lost = ts.filter((t) => !byId.has(t.id)).length;
    let duplicated = 0;
    let ok = 0;
    const classes: Record<string, number> = {};
    for (const [, lines] of byId) {
      duplicated += lines.length - 1;
      for (const l of lines)
        if (l === 'ok') ok += 1;
        else classes[l] = (classes[l] ?? 0) + 1;
    }
    return { lost, duplicated, ok, classes };
  }

  async function timed<T>(body: () => Promise<T>): Promise<{ value?: T; error?: unknown; seconds: number }> {
    const started = performance.now();
    try {
      const value = await body();
      return { value, seconds: Math.round((performance.now() - started) / 100) / 10 };
    } catch (error) {
      return { error, seconds: Math.round((performance.now() - started) / 100) / 10 };
    }
  }

  it('steady 429 with Retry-After: 3600: each job fails as RateLimitedError within its budget, and the pause ends with the condition', async () => {
    scriptFake();
    const { config, workerEnv, out, input, prefix } = setup('ratelimit');
    await startWorker({ ...workerEnv, RATE_LIMIT_CAP_MS: '300', RATE_LIMIT_RETRIES: '3' });
    fake.setFault({ kind: 'rate-limit', retryAfterSeconds: 3600 });
    const ts = tasks('rl', 4);
    const before = fake.requests.length;
    const run = await timed(() => generateDistributed(input(ts), config));
    const calls = fake.requests.length - before;
    const acc = account(out, ts);
    rows.push({
      fault: 'steady 429 + Retry-After 3600 s (cap 300 ms, budget 3)',
      outcome: `${acc.classes.RateLimitedError ?? 0} failed RateLimitedError, ${calls} LLM calls`,
      jobs: ts.length,
      lost: acc.lost,
      duplicated: acc.duplicated,
      seconds: run.seconds,
    });
    expect(run.error).toBeUndefined();
    expect(run.value).toMatchObject({ done: 0, failed: 4, failuresByClass: { RateLimitedError: 4 } });
    expect(acc).toMatchObject({ lost: 0, duplicated: 0 });
    expect(readFileSync(out, 'utf8')).toContain('RATE_LIMIT_RETRIES=3');
    // Bounded: 4 starts per job at most (the budget + 1), a few calls per start, at most 300 ms apart.
    expect(run.seconds).toBeLessThan(20);
    expect(calls).toBeLessThanOrEqual(ts.length * 4 * 3);
    // The queue-wide pause never outlives the cap: the hour the server asked for is not in Redis.
    const queue = new Queue(QueueName.Generate, { connection: { url: config.REDIS_URL } as never, prefix });
    expect(await queue.getRateLimitTtl()).toBeLessThanOrEqual(300);
    await queue.close();
    // The upstream recovers: a re-run is served at once, the same 4 tasks attempted again.
    fake.setFault(undefined);
    const after = await timed(() => generateDistributed(input(ts), config));
    expect(after.value).toMatchObject({ done: 4, failed: 0, retried: { tasks: 4, byClass: { RateLimitedError: 4 } }, newAttempts: 4 });
    expect(after.seconds).toBeLessThan(15);
    expect(account(out, ts)).toMatchObject({ lost: 0, duplicated: 0, ok: 4 });
  }, 60_000);

  it('no worker consumes the queue: the wait ends within QUEUE_WAIT_TIMEOUT_MS saying which worker to start; then it completes', async () => {
    scriptFake();
    const { config, workerEnv, out, input } = setup('noworker');
    const ts = tasks('nw', 6);
    const run = await timed(() => generateDistributed(input(ts), config));
    const message = (run.error as Error | undefined)?.message ?? '';
    rows.push({
      fault: 'no worker running (wait timeout 3 s)',
      outcome: `${run.error ? classify(run.error).kind : 'no error'}: "${message.slice(0, 70)}…"`,
      jobs: ts.length,
      lost: 0,
      duplicated: account(out, ts).duplicated,
      seconds: run.seconds,
    });
    expect(classify(run.error)).toMatchObject({ kind: 'transient', exitCode: 1 });
    expect(message).toMatch(/no worker has consumed queue generate .* start the generator worker \(npm run start:generator\)/);
    expect(run.seconds).toBeLessThan(8);
    // Nothing was lost: with a worker, the same command finishes every task once.
    await startWorker(workerEnv);
    const again = await timed(() => generateDistributed(input(ts), config));
    expect(again.value).toMatchObject({ done: 6, failed: 0 });
    expect(account(out, ts)).toMatchObject({ lost: 0, duplicated: 0, ok: 6 });
  }, 60_000);

  it('kb build --distributed with no worker: the build ends within QUEUE_WAIT_TIMEOUT_MS naming the ingest worker', async () => {
    const prefix = uniquePrefix('fault-kbnoworker');
    prefixes.push(prefix);
    const build = await timed(() =>
      runDistributedBuild(
        { REDIS_URL: testRedisUrl(), QUEUE_PREFIX: prefix, QUEUE_WAIT_TIMEOUT_MS: 2000 },
        {
          sources: [join(root, 'examples/fix-pairs')],
          kbDir: join(dir, 'kb-noworker'),
          hops: 2,
          clusterBy: 'language-cwe',
          catalogOnlyNodes: false,
          distillation: 'extractive',
          batchSize: 50,
          embedder: 'local',
        },
      ),
    );
    const message = (build.error as Error | undefined)?.message ?? '';
    rows.push({
      fault: 'kb build --distributed, no worker (wait timeout 2 s)',
      outcome: `${build.error ? classify(build.error).kind : 'no error'}: "${message.slice(0, 60)}…"`,
      jobs: 1,
      lost: 0,
      duplicated: 0,
      seconds: build.seconds,
    });
    expect(classify(build.error).exitCode).toBe(1);
    expect(message).toMatch(/no worker has consumed queue ingest .*npm run start:ingest/);
    expect(build.seconds).toBeLessThan(8);
  }, 30_000);

  it('a worker started without LLM config fails each job as ConfigError at once; after fixing, a re-run does them under new attempt ids', async () => {
    scriptFake();
    const { config, workerEnv, out, input } = setup('nollm');
    const noLlm = { ...workerEnv };
    delete noLlm.LLM_BASE_URL;
    const bad = await startWorker(noLlm);
    const ts = tasks('nl', 6);
    const run = await timed(() => generateDistributed(input(ts), config));
    const acc = account(out, ts);
    rows.push({
      fault: 'worker without LLM_BASE_URL',
      outcome: `${acc.classes.ConfigError ?? 0} failed ConfigError; after fixing, re-run: all done`,
      jobs: ts.length,
      lost: acc.lost,
      duplicated: acc.duplicated,
      seconds: run.seconds,
    });
    expect(run.value).toMatchObject({ done: 0, failed: 6, failuresByClass: { ConfigError: 6 } });
    expect(acc).toMatchObject({ lost: 0, duplicated: 0 });
    expect(run.seconds).toBeLessThan(10);
    await stopWorker(bad);
    await startWorker(workerEnv);
    const fixed = await timed(() => generateDistributed(input(ts), config));
    expect(fixed.value).toMatchObject({ done: 6, failed: 0, newAttempts: 6, retried: { tasks: 6, byClass: { ConfigError: 6 } } });
    expect(account(out, ts)).toMatchObject({ lost: 0, duplicated: 0, ok: 6 });
    expect(readFileSync(`${out}.history.jsonl`, 'utf8').trim().split('\n')).toHaveLength(6);
  }, 60_000);

  it('generator SIGKILLed mid-job: another worker finishes the batch, every task once', async () => {
    scriptFake();
    const { config, workerEnv, out, input } = setup('sigkill');
    fake.setLatency(400);
    const first = await startWorker(workerEnv);
    const ts = tasks('sk', 6);
    const before = fake.requests.length;
    const running = timed(() => generateDistributed(input(ts), { ...config, QUEUE_WAIT_TIMEOUT_MS: 130_000 }));
    await until('a job in flight', () => fake.requests.length > before, 20_000);
    await stopWorker(first);
    await startWorker(workerEnv);
    const run = await running;
    const acc = account(out, ts);
    rows.push({
      fault: 'generator SIGKILL mid-job',
      outcome: run.error ? `error: ${(run.error as Error).message.slice(0, 60)}` : `${acc.ok} done; the killed worker's job was taken over after BullMQ's lock (30 s) and stalled check (30 s)`,
      jobs: ts.length,
      lost: acc.lost,
      duplicated: acc.duplicated,
      seconds: run.seconds,
    });
    expect(run.error).toBeUndefined();
    expect(run.value).toMatchObject({ done: 6, failed: 0 });
    expect(acc).toMatchObject({ lost: 0, duplicated: 0, ok: 6 });
    // BullMQ gives a dead worker's job back once its lock (30 s, renewed every 15 s) has expired
    // and a stalled check has seen the job twice (every 30 s): 30 to 90 s with the generator's
    // default worker options, whatever this command does.
    expect(run.seconds).toBeLessThan(120);
  }, 150_000);

  it('Redis kill -9 and restart with AOF mid-batch: the batch completes, every task once', async () => {
    scriptFake();
    const redis = new OwnRedis(await freePort(), true);
    await redis.start();
    try {
      const { config, workerEnv, out, input } = setup('aof', redis.url, { QUEUE_WAIT_TIMEOUT_MS: 20_000 });
      fake.setLatency(100);
      const worker = await startWorker(workerEnv);
      const ts = tasks('aof', 12);
      // What this process (the producer: the CLI's run) prints while Redis is away.
      const printed: string[] = [];
      const stderr = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => (printed.push(String(chunk)), true));
      const consoleError = jest.spyOn(console, 'error').mockImplementation((...args: unknown[]) => void printed.push(`console.error ${args.map(String).join(' ')}`));
      let run: { value?: unknown; error?: unknown; seconds: number };
      try {
        const running = timed(() => generateDistributed(input(ts), config));
        await until('3 results', () => account(out, ts).ok >= 3, 30_000);
        await redis.kill9();
        await sleep(500);
        await redis.start();
        run = await running;
      } finally {
        stderr.mockRestore();
        consoleError.mockRestore();
      }
      const acc = account(out, ts);
      const log = worker.log();
      rows.push({
        fault: 'Redis kill -9 + restart with AOF mid-batch',
        outcome: run.error ? `error: ${(run.error as Error).message.slice(0, 60)}` : `${acc.ok} done`,
        jobs: ts.length,
        lost: acc.lost,
        duplicated: acc.duplicated,
        seconds: run.seconds,
      });
      expect(run.error).toBeUndefined();
      expect(run.value).toMatchObject({ done: 12, failed: 0 });
      expect(acc).toMatchObject({ lost: 0, duplicated: 0, ok: 12 });
      // Usually a few seconds. AOF fsyncs once a second, so a kill -9 may lose the last second of
      // writes: a job whose completion was lost is back in the active list with no worker on it,
      // and BullMQ returns it only after its lock expires (30 s) and a stalled check has seen it
      // twice (every 30 s), as in the SIGKILL case above: up to about 90 s.
      expect(run.seconds).toBeLessThan(120);
      // One line for the loss and one for the recovery, not a stack per connection and retry.
      expect(log.match(/Redis lost/g) ?? []).toHaveLength(1);
      expect(log.match(/Redis back/g) ?? []).toHaveLength(1);
      expect(log).not.toContain('ECONNREFUSED\n    at');
      // The producer too: one line each way, no raw stack from its queues and queue events.
      const said = printed.join('');
      expect(said.match(/rescue: Redis lost/g) ?? []).toHaveLength(1);
      expect(said.match(/rescue: Redis back/g) ?? []).toHaveLength(1);
      expect(said).not.toMatch(/console\.error|ECONNREFUSED\n\s+at|ECONNRESET\n\s+at/);
    } finally {
      await redis.stop();
    }
  }, 150_000);

  it('Redis restarted empty mid-batch: the run fails within the wait timeout saying Redis lost its data; a re-run completes every task once', async () => {
    scriptFake();
    const redis = new OwnRedis(await freePort(), false);
    await redis.start();
    try {
      const { config, workerEnv, out, input } = setup('empty', redis.url, { QUEUE_WAIT_TIMEOUT_MS: 5000 });
      fake.setLatency(150);
      await startWorker(workerEnv);
      const ts = tasks('em', 12);
      const running = timed(() => generateDistributed(input(ts), config));
      await until('2 results', () => account(out, ts).ok >= 2, 30_000);
      await redis.kill9();
      await redis.start();
      const run = await running;
      const message = (run.error as Error | undefined)?.message ?? '';
      const partial = account(out, ts);
      rows.push({
        fault: 'Redis restarted empty mid-batch',
        outcome: `${run.error ? classify(run.error).kind : 'no error'}: "${message.slice(0, 60)}…"; re-run: all done`,
        jobs: ts.length,
        lost: 0,
        duplicated: partial.duplicated,
        seconds: run.seconds,
      });
      expect(message).toMatch(/Redis lost its data/);
      expect(classify(run.error).exitCode).toBe(1);
      expect(run.seconds).toBeLessThan(30);
      expect(partial.duplicated).toBe(0);
      const again = await timed(() => generateDistributed(input(ts), config));
      expect(again.error).toBeUndefined();
      expect(account(out, ts)).toMatchObject({ lost: 0, duplicated: 0, ok: 12 });
      expect((again.value as DistributedBatchSummary).resumed).toBe(partial.ok);
    } finally {
      await redis.stop();
    }
  }, 90_000);
});
