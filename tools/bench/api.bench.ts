import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import autocannon from 'autocannon';
import { readCweCatalog } from '@rescue/datasets';
import { localEmbedder } from '@rescue/knowledge';
import { buildKnowledgeBase } from '@rescue/pipeline';

// `npm run bench:api`: the HTTP API as a process (dist/apps/api/src/main.js) over the example KB
// (examples/fix-pairs and the sample catalogue, 1×), loaded by autocannon:
//   A. 50 connections sending ordinary retrieve requests;
//   B. the same, with two more clients each sending 500 KB prompts back to back beside them.
// Pass: B's ordinary p99 is within 2× of A's. Machine load is printed with the numbers, because
// the load generator shares this machine's cores with the API.
// BENCH_DURATION_S (default 15) sets each run's length; BENCH_CONNECTIONS (default 50);
// BENCH_JSON=<file> writes the figures as JSON (`npm run bench` collects them).

const root = resolve(__dirname, '../../..');
const examples = join(root, 'examples');
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 15);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const BIG_PROMPT_BYTES = 500 * 1024;

const TASKS = [
  { language: 'python', prompt: 'def find_user(db, name):\n    # look the user up by name with an SQL query\n' },
  { language: 'c', prompt: 'void copy_name(char *dst, const char *src) {\n    // copy the user name into the buffer\n' },
  { language: 'python', prompt: 'def render(name):\n    # return the greeting page with the name in it\n' },
  { language: 'java', prompt: 'public String readFile(String name) throws IOException {\n    // read the file the user asked for from the uploads folder\n' },
  { language: 'rust', prompt: '/// Adds two numbers.\nfn add(a: i32, b: i32) -> i32 {\n' },
];

function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => res(port));
    });
  });
}

function bigPrompt(): string {
  const unit =
    'def handler(request):\n    user = request.args.get("name")\n    query = "SELECT * FROM users WHERE name = " + user\n    cursor.execute(query)\n    return render_template("user.html", rows=cursor.fetchall())\n\n';
  return unit.repeat(Math.ceil(BIG_PROMPT_BYTES / unit.length)).slice(0, BIG_PROMPT_BYTES);
}

async function waitLive(url: string, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      if ((await fetch(`${url}/health/live`)).ok) return;
    } catch (_notYet) {
      // Not listening yet.
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`the API did not start within ${ms} ms`);
}

interface RunFigures {
  requests: number;
  rps: number;
  p50: number;
  p99: number;
  max: number;
  non2xx: number;
  errors: number;
  timeouts: number;
}

function ordinaryLoad(url: string): Promise<RunFigures> {
  return new Promise((res, rej) => {
    autocannon(
      {
        url: `${url}/v1/retrieve`,
        connections: CONNECTIONS,
        duration: DURATION_S,
        timeout: 30,
        requests: TASKS.map((t) => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(t) })),
      },
      (err, r) => {
        if (err) return rej(err);
        res({ requests: r.requests.total, rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, max: r.latency.max, non2xx: r.non2xx, errors: r.errors, timeouts: r.timeouts });
      },
    );
  });
}

/** Two clients sending 500 KB prompts back to back until `stop` resolves. */
function bigClients(url: string, stop: Promise<void>): Promise<{ done: number; failed: number; latencies: number[] }> {
  const body = JSON.stringify({ language: 'python', prompt: bigPrompt() });
  const out = { done: 0, failed: 0, latencies: [] as number[] };
  let stopped = false;
  void stop.then(() => (stopped = true));
  const client = async (): Promise<void> => {
    while (!stopped) {
      const t0 = performance.now();
      try {
        const res = await fetch(`${url}/v1/retrieve`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
        await res.arrayBuffer();
        if (res.ok) out.done++;
        else out.failed++;
      } catch (_failed) {
        // Counted: a refused or reset request is a result of the run, not a reason to stop it.
        out.failed++;
      }
      out.latencies.push(performance.now() - t0);
    }
  };
  return Promise.all([client(), client()]).then(() => out);
}

/** The API's own view of a run from /metrics: its event loop's lag (reset by each scrape) and pool waits. */
async function apiSide(url: string): Promise<string> {
  const lines = (await (await fetch(`${url}/metrics`)).text()).split('\n');
  const value = (name: string, label = ''): number => {
    const line = lines.find((l) => (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) && l.includes(label));
    return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : Number.NaN;
  };
  const ms = (x: number): string => `${(x * 1000).toFixed(0)} ms`;
  const queued = value('rescue_retrieval_duration_seconds_sum', 'level="queued"') / value('rescue_retrieval_duration_seconds_count', 'level="queued"');
  return `API event loop lag p99 ${ms(value('nodejs_eventloop_lag_p99_seconds'))}, max ${ms(value('nodejs_eventloop_lag_max_seconds'))}; mean wait for a pool thread so far ${ms(queued)}`;
}

const fmt = (r: RunFigures): string =>
  `${r.rps.toFixed(1)} req/s, p50 ${r.p50} ms, p99 ${r.p99} ms, max ${r.max} ms (${r.requests} requests, ${r.non2xx} non-2xx, ${r.errors} errors, ${r.timeouts} timeouts)`;
const load = (): string =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' / ');

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'rescue-bench-api-'));
  let api: ChildProcess | undefined;
  try {
    const catalog = await readCweCatalog(join(examples, 'cwe-catalog-sample.csv'));
    const kbDir = join(dir, 'kb');
    await buildKnowledgeBase({ sources: [join(examples, 'fix-pairs')], kbDir, catalog, clusterBy: 'language-cwe', catalogOnlyNodes: true, hops: 2, maxLineBytes: 1 << 20, embedder: localEmbedder });
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    // The rate limit is off (the bench is one client); warn-level logs, so the bench measures the
    // API and not a terminal. Redis is whatever REDIS_URL says: retrieval does not use it.
    api = spawn(process.execPath, [join(root, 'dist/apps/api/src/main.js')], {
      env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', RESCUE_KB_DIR: kbDir, API_RATE_LIMIT_PER_MINUTE: '0', LOG_LEVEL: 'warn', API_KEYS: '' },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    await waitLive(url, 30_000);
    // Warm every pool thread (each opens the KB once) before measuring.
    await Promise.all(TASKS.map((t) => fetch(`${url}/v1/retrieve`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(t) }).then((r) => r.arrayBuffer())));
    await fetch(`${url}/v1/retrieve`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ language: 'python', prompt: bigPrompt() }) }).then((r) =>
      r.arrayBuffer(),
    );

    await apiSide(url);
    process.stdout.write(`machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), load average before ${load()}\n`);
    const a = await ordinaryLoad(url);
    process.stdout.write(`A  ${CONNECTIONS} concurrent ordinary retrieves, ${DURATION_S} s: ${fmt(a)}; load ${load()}\n   ${await apiSide(url)}\n`);

    let release: () => void = () => undefined;
    const stop = new Promise<void>((r) => (release = r));
    const big = bigClients(url, stop);
    const b = await ordinaryLoad(url);
    release();
    const bigResult = await big;
    const bl = [...bigResult.latencies].sort((x, y) => x - y);
    process.stdout.write(`B  the same beside 2 clients sending 500 KB prompts: ${fmt(b)}; load ${load()}\n`);
    process.stdout.write(`   ${await apiSide(url)}\n`);
    process.stdout.write(
      `   500 KB prompts: ${bigResult.done} answered, ${bigResult.failed} failed, latency p50 ${bl[Math.floor(bl.length / 2)]?.toFixed(0) ?? '-'} ms, max ${bl[bl.length - 1]?.toFixed(0) ?? '-'} ms\n`,
    );
    const ratio = b.p99 / Math.max(1, a.p99);
    const pass = ratio <= 2 && b.non2xx === 0 && a.non2xx === 0;
    process.stdout.write(`ordinary p99 B/A = ${ratio.toFixed(2)} (target <= 2): ${pass ? 'PASS' : 'FAIL'}\n`);
    process.exitCode = pass ? 0 : 1;
    if (process.env.BENCH_JSON) {
      const alone = `${CONNECTIONS} concurrent retrieves`;
      const figures = [
        { name: `${alone}: req/s`, value: Math.round(a.rps), unit: 'req/s' },
        { name: `${alone}: p50`, value: a.p50, unit: 'ms' },
        { name: `${alone}: p99`, value: a.p99, unit: 'ms' },
        { name: `${alone} beside 2 x 500 KB prompts: req/s`, value: Math.round(b.rps), unit: 'req/s', baseline: { name: `${alone}: req/s`, value: Math.round(a.rps) } },
        { name: `${alone} beside 2 x 500 KB prompts: p50`, value: b.p50, unit: 'ms', baseline: { name: `${alone}: p50`, value: a.p50 } },
        { name: `${alone} beside 2 x 500 KB prompts: p99`, value: b.p99, unit: 'ms', baseline: { name: `${alone}: p99`, value: a.p99 }, goal: 'within 2x of the p99 without them' },
      ];
      writeFileSync(process.env.BENCH_JSON, JSON.stringify({ load: loadavg(), figures, pass, bigPrompts: { answered: bigResult.done, failed: bigResult.failed } }, null, 1));
    }
  } finally {
    api?.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

void main().catch((err: unknown) => {
  process.stderr.write(`bench:api: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
