/**
 * The built apps as processes: a worker's health listener and the bounded SIGTERM of a worker and
 * of the API, with Redis taken away first (the case in which unbounded closes hang). Uses its own
 * redis-server on a free port, so stopping it touches nobody else's tests.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(__dirname, '../../..');
const dist = (app: string) => join(root, 'dist/apps', app, 'src/main.js');

function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => res(port));
    });
  });
}

function hasRedisServer(): boolean {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    return true;
  } catch (_absent) {
    // Not installed: the test says so and is skipped.
    return false;
  }
}

async function waitFor(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const status = async (url: string): Promise<number> => (await fetch(url, { signal: AbortSignal.timeout(2000) })).status;

function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }> {
  return new Promise((r) => child.once('exit', (code, signal) => r({ code, signal, at: performance.now() })));
}

const runnable = hasRedisServer() && existsSync(dist('ingest')) && existsSync(dist('api'));
if (!runnable) process.stdout.write('process-lifecycle: skipped (needs redis-server and a build: npm run build)\n');
const maybe = runnable ? describe : describe.skip;

maybe('app processes: health and bounded shutdown', () => {
  let dir: string;
  let redisPort: number;
  let redis: ChildProcess | undefined;
  const children: ChildProcess[] = [];
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rescue-lifecycle-'));
    redisPort = await freePort();
    redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--dir', dir], { stdio: 'ignore' });
    await waitFor(
      async () => {
        try {
          execFileSync('redis-cli', ['-p', String(redisPort), 'ping'], { stdio: 'ignore' });
          return true;
        } catch (_notYet) {
          return false;
        }
      },
      10_000,
      'redis-server',
    );
  });
  afterEach(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    children.length = 0;
    redis?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  const start = (app: string, env: Record<string, string>): ChildProcess => {
    const child = spawn(process.execPath, [dist(app)], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', REDIS_URL: `redis://127.0.0.1:${redisPort}`, QUEUE_PREFIX: 'lifecycle', RESCUE_DATA_DIR: join(dir, 'data'), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.resume();
    child.stderr?.resume();
    children.push(child);
    return child;
  };

  it('a worker answers its probes, turns unready without Redis, and exits within SHUTDOWN_GRACE_MS of SIGTERM', async () => {
    const port = await freePort();
    const worker = start('ingest', { HEALTH_PORT: String(port), HEALTH_HOST: '127.0.0.1', SHUTDOWN_GRACE_MS: '3000' });
    const base = `http://127.0.0.1:${port}`;
    await waitFor(async () => (await status(`${base}/health/ready`)) === 200, 30_000, 'worker ready');
    expect(await status(`${base}/health/live`)).toBe(200);
    expect(await (await fetch(`${base}/metrics`)).text()).toContain('process_resident_memory_bytes{app="ingest"}');
    redis?.kill('SIGKILL');
    await waitFor(async () => (await status(`${base}/health/ready`)) === 503, 10_000, 'worker unready');
    // Still alive: restarting it would not bring Redis back.
    expect(await status(`${base}/health/live`)).toBe(200);
    const exited = exitOf(worker);
    const t0 = performance.now();
    worker.kill('SIGTERM');
    const { at, code, signal } = await exited;
    process.stdout.write(`worker: SIGTERM to exit ${(at - t0).toFixed(0)} ms (code ${code}, signal ${signal})\n`);
    // Whether Nest's close finished or the bound cut it, the process is gone within the grace.
    expect(at - t0).toBeLessThan(3000 + 1500);
  }, 60_000);

  it('the API starts without Redis, answers live, and exits within SHUTDOWN_GRACE_MS of SIGTERM', async () => {
    redis?.kill('SIGKILL');
    const port = await freePort();
    const api = start('api', { PORT: String(port), HOST: '127.0.0.1', REDIS_URL: `redis://127.0.0.1:${redisPort}`, SHUTDOWN_GRACE_MS: '2000' });
    await waitFor(async () => (await status(`http://127.0.0.1:${port}/health/live`)) === 200, 30_000, 'API live');
    const exited = exitOf(api);
    const t0 = performance.now();
    api.kill('SIGTERM');
    const { at, code, signal } = await exited;
    process.stdout.write(`api: SIGTERM to exit ${(at - t0).toFixed(0)} ms (code ${code}, signal ${signal})\n`);
    expect(at - t0).toBeLessThan(2000 + 1500);
  }, 60_000);
});
