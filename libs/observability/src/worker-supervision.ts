import { Redis } from 'ioredis';
import { Metrics } from './metrics';
import { installBoundedShutdown } from './shutdown';
import { type WorkerHealthEnv, startWorkerHealth } from './worker-health';

export interface SupervisedWorker {
  /** The app name, for log lines. */
  name: string;
  redisUrl: string;
  env: WorkerHealthEnv;
  log?: (msg: string, fields?: Record<string, unknown>) => void;
}

/**
 * What every worker app's main.ts adds around its Nest context: the health listener (HEALTH_PORT,
 * also serving /metrics) and a bound on shutdown. Nest's shutdown hooks (enabled by bootstrapWorker) do the closing:
 * BullMQ workers stop taking jobs and wait for the active ones; this exits the process once
 * SHUTDOWN_GRACE_MS has passed even if that wait has not ended (Redis down, a job that hangs).
 */
export async function superviseWorker(opts: SupervisedWorker): Promise<{ port?: number; closing: () => boolean; metrics: Metrics }> {
  const log = opts.log ?? ((msg: string, fields?: Record<string, unknown>) => process.stdout.write(`${JSON.stringify({ app: opts.name, msg, ...fields })}\n`));
  let closing = false;
  const metrics = new Metrics({ app: opts.name });
  installBoundedShutdown({
    graceMs: opts.env.SHUTDOWN_GRACE_MS,
    log,
    onSignal: () => {
      closing = true;
    },
  });
  if (opts.env.HEALTH_PORT === 0) return { closing: () => closing, metrics };
  // Its own connection, failing fast: a probe answer must come in seconds, and this client must
  // never queue commands while Redis is away.
  const redis = new Redis(opts.redisUrl, {
    lazyConnect: true,
    connectTimeout: 2000,
    commandTimeout: 2000,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: (n) => Math.min(n * 500, 5000),
  });
  redis.on('error', () => undefined);
  redis.connect().catch(() => undefined);
  let health: Awaited<ReturnType<typeof startWorkerHealth>>;
  try {
    health = await startWorkerHealth({
      port: opts.env.HEALTH_PORT,
      host: opts.env.HEALTH_HOST,
      metrics,
      isClosing: () => closing,
      ready: async () => {
        try {
          await redis.ping();
          return { ok: true, detail: { redis: 'up' } };
        } catch (_down) {
          // Not this worker's fault, but it cannot take jobs: not ready (liveness still passes).
          return { ok: false, detail: { redis: 'down' } };
        }
      },
    });
  } catch (err) {
    // Several workers on one host (development, tests) share the default port: the worker still
    // works; only its HTTP probe is missing, which this line says.
    redis.disconnect();
    log('health listener not started', { port: opts.env.HEALTH_PORT, error: (err as Error).message });
    return { closing: () => closing, metrics };
  }
  log('health listening', { port: health.port });
  return { port: health.port, closing: () => closing, metrics };
}
