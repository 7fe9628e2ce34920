/**
 * Health probe for the image's Docker HEALTHCHECK (Dockerfile, docker-compose.yml), where no curl
 * exists and one command must fit every service. Kubernetes does not use it: its probes are httpGet
 * on the same endpoints (k8s/base).
 *
 *   node dist/tools/probe.js <live|ready> [app]
 *
 * `app` defaults to the app PID 1 runs (`node dist/apps/<app>/src/main.js`). Exit 0 means healthy;
 * the one line printed says why not.
 *
 * - api: GET /health/<mode> on PORT.
 * - a worker: GET /health/<mode> on its health listener (HEALTH_PORT, libs/observability
 *   worker-health): live = the event loop answers; ready = Redis answers and not shutting down.
 *   HEALTH_PORT=0 turns the listener off, and with it anything to probe: passes, saying so.
 * - anything else (the cli, a one-off `run`): nothing long-running to check; passes.
 */
import { readFileSync } from 'node:fs';
import { get } from 'node:http';
import { httpEnv, loadConfig } from '@rescue/config';
import { WorkerApp } from '@rescue/contracts';
import { workerHealthEnv } from '@rescue/observability';

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

function isWorkerApp(app: string): app is WorkerApp {
  return (Object.values(WorkerApp) as string[]).includes(app);
}

/** A wildcard listen address is reached on loopback; a specific one only on itself. */
const dialable = (host: string): string => (['0.0.0.0', '::', ''].includes(host) ? '127.0.0.1' : host);

function httpProbe(host: string, port: number, mode: ProbeMode): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const req = get({ host, port, path: `/health/${mode}`, timeout: 3000 }, (res) => {
      res.resume();
      resolve({ ok: res.statusCode === 200, reason: `GET /health/${mode} on ${host}:${port}: ${res.statusCode}` });
    });
    req.on('timeout', () => req.destroy(new Error('timed out after 3 s')));
    req.on('error', (err) => resolve({ ok: false, reason: `GET /health/${mode} on ${host}:${port}: ${err.message}` }));
  });
}

export async function probe(mode: ProbeMode, app: string | undefined, env: Record<string, string | undefined> = process.env): Promise<ProbeResult> {
  if (app === 'api') {
    const config = loadConfig(httpEnv, env);
    return httpProbe(dialable(config.HOST), config.PORT, mode);
  }
  if (app && isWorkerApp(app)) {
    const config = loadConfig(workerHealthEnv, env);
    if (config.HEALTH_PORT === 0) return { ok: true, reason: `${app}: HEALTH_PORT=0, no health listener to probe` };
    return httpProbe(dialable(config.HEALTH_HOST), config.HEALTH_PORT, mode);
  }
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
