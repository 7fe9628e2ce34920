/**
 * Health probe for every Rescue app in a container: the image's Docker HEALTHCHECK and the
 * Kubernetes exec probes (k8s/base) run it.
 *
 *   node dist/tools/probe.js <live|ready> [app]
 *
 * `app` defaults to the app PID 1 runs (`node dist/apps/<app>/src/main.js`), so one image-wide
 * HEALTHCHECK fits every service. Exit 0 means healthy; the one line printed says why not.
 *
 * - api: GET /health/live or /health/ready on the port it listens on.
 * - a worker serves no HTTP. What shows it is working is its BullMQ blocking connection, which
 *   BullMQ names `<QUEUE_PREFIX>:<base64(queue)>` (CLIENT SETNAME; `:w:<name>` is appended when the
 *   worker has a name). `ready`: Redis answers and lists such a connection, for every queue the app
 *   consumes, from one of this container's addresses. `live`: the same, except that an unreachable
 *   Redis passes, because restarting the worker cannot bring Redis back.
 * - anything else (the cli, a one-off `run`): nothing long-running to check; passes.
 *
 * The worker check proves the worker holds its queue connection, not that its event loop is
 * responsive; a heartbeat endpoint in the worker apps would (see k8s/README.md).
 */
import { readFileSync } from 'node:fs';
import { get } from 'node:http';
import { hostname, networkInterfaces } from 'node:os';
import { Redis } from 'ioredis';
import { httpEnv, loadConfig, redisEnv } from '@rescue/config';
import { WorkerApp, queuesConsumedBy } from '@rescue/contracts';

export type ProbeMode = 'live' | 'ready';

export interface ProbeResult {
  ok: boolean;
  reason: string;
}

/** The app a process command line runs (`…/dist/apps/<app>/src/main.js`); NUL- or space-separated. */
export function appFromCmdline(cmdline: string): string | undefined {
  for (const arg of cmdline.split(/[\0\s]+/)) {
    const m = /(?:^|\/)dist\/apps\/([a-z0-9-]+)\/src\/main\.js$/.exec(arg);
    if (m) return m[1];
  }
  return undefined;
}

export interface RedisClientEntry {
  name: string;
  /** The client's address as Redis sees it, without the port. */
  ip: string;
}

/** Parses CLIENT LIST output: one client a line, `key=value` fields (`addr=ip:port`, `[v6]:port`). */
export function parseClientList(text: string): RedisClientEntry[] {
  const out: RedisClientEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const fields = new Map<string, string>();
    for (const part of line.trim().split(' ')) {
      const eq = part.indexOf('=');
      if (eq > 0) fields.set(part.slice(0, eq), part.slice(eq + 1));
    }
    const addr = fields.get('addr') ?? '';
    const colon = addr.lastIndexOf(':');
    const ip = (colon > 0 ? addr.slice(0, colon) : addr).replace(/^\[|\]$/g, '').replace(/^::ffff:/, '');
    out.push({ name: fields.get('name') ?? '', ip });
  }
  return out;
}

/** The client name BullMQ gives a worker's blocking connection for `queue` (bullmq createBlockingConnection). */
export function workerClientName(prefix: string, queue: string): string {
  return `${prefix}:${Buffer.from(queue).toString('base64')}`;
}

/**
 * Which of `queues` have no worker connection of this container: one named for the queue, either
 * from one of `localIps` or carrying this host's name as its worker name (`…:w:<hostname>`, which
 * also holds behind NAT or a proxy that hides client addresses).
 */
export function queuesWithoutWorker(clients: RedisClientEntry[], opts: { prefix: string; queues: string[]; localIps: string[]; host: string }): string[] {
  const local = new Set(opts.localIps);
  return opts.queues.filter((queue) => {
    const base = workerClientName(opts.prefix, queue);
    return !clients.some((c) => (c.name === base && local.has(c.ip)) || c.name === `${base}:w:${opts.host}` || (c.name.startsWith(`${base}:w:`) && local.has(c.ip)));
  });
}

function localIps(): string[] {
  return Object.values(networkInterfaces())
    .flatMap((list) => list ?? [])
    .map((i) => i.address.replace(/^::ffff:/, ''));
}

function isWorkerApp(app: string): app is WorkerApp {
  return (Object.values(WorkerApp) as string[]).includes(app);
}

async function probeWorker(app: WorkerApp, mode: ProbeMode): Promise<ProbeResult> {
  const config = loadConfig(redisEnv);
  // No retries and no offline queue: a probe has seconds, and an answer of "unreachable" is an answer.
  const redis = new Redis(config.REDIS_URL, { lazyConnect: true, connectTimeout: 3000, commandTimeout: 3000, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
  // The failure is reported by the awaited call below; without a listener ioredis prints its own.
  redis.on('error', () => undefined);
  try {
    try {
      await redis.connect();
    } catch (err) {
      const reason = `Redis unreachable (${(err as Error).message})`;
      return mode === 'live' ? { ok: true, reason: `${reason}: not this worker's fault, no restart` } : { ok: false, reason };
    }
    let list: string;
    try {
      list = String(await redis.call('CLIENT', 'LIST'));
    } catch (err) {
      // Some managed Redis services refuse CLIENT LIST; then reaching Redis is all that can be checked.
      return { ok: true, reason: `Redis answers; CLIENT LIST refused (${(err as Error).message}), worker connection not checked` };
    }
    const queues = queuesConsumedBy(app);
    const missing = queuesWithoutWorker(parseClientList(list), { prefix: config.QUEUE_PREFIX, queues, localIps: localIps(), host: hostname() });
    if (missing.length > 0) return { ok: false, reason: `no ${app} worker connection of this container on queue(s) ${missing.join(', ')} (prefix ${config.QUEUE_PREFIX})` };
    return { ok: true, reason: `${app} holds its worker connection on ${queues.join(', ')}` };
  } finally {
    redis.disconnect();
  }
}

function probeApi(mode: ProbeMode): Promise<ProbeResult> {
  const config = loadConfig(httpEnv);
  // A wildcard listen address is reached on loopback; a specific one only on itself.
  const host = ['0.0.0.0', '::', ''].includes(config.HOST) ? '127.0.0.1' : config.HOST;
  return new Promise((resolve) => {
    const req = get({ host, port: config.PORT, path: `/health/${mode}`, timeout: 3000 }, (res) => {
      res.resume();
      const ok = res.statusCode === 200;
      resolve({ ok, reason: `GET /health/${mode}: ${res.statusCode}` });
    });
    req.on('timeout', () => req.destroy(new Error('timed out after 3 s')));
    req.on('error', (err) => resolve({ ok: false, reason: `GET /health/${mode} on ${host}:${config.PORT}: ${err.message}` }));
  });
}

export async function probe(mode: ProbeMode, app: string | undefined): Promise<ProbeResult> {
  if (app === 'api') return probeApi(mode);
  if (app && isWorkerApp(app)) return probeWorker(app, mode);
  return { ok: true, reason: `${app ?? 'no Rescue app'} in this container: nothing to probe` };
}

function pid1App(): string | undefined {
  try {
    return appFromCmdline(readFileSync('/proc/1/cmdline', 'utf8'));
  } catch (_unreadable) {
    // Not Linux, or /proc hidden: the caller must name the app.
    return undefined;
  }
}

async function main(argv: string[]): Promise<number> {
  const [mode, named] = argv;
  if (mode !== 'live' && mode !== 'ready') {
    process.stderr.write('usage: node dist/tools/probe.js <live|ready> [app]\n');
    return 2;
  }
  const result = await probe(mode, named ?? pid1App());
  (result.ok ? process.stdout : process.stderr).write(`${mode}: ${result.ok ? 'ok' : 'failing'}: ${result.reason}\n`);
  return result.ok ? 0 : 1;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`probe: ${(err as Error).message}\n`);
      process.exit(1);
    },
  );
}
