import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { z } from 'zod';

/** Where a worker app answers its health probes; 0 turns the listener off. */
export const workerHealthEnv = z.object({
  HEALTH_PORT: z.coerce.number().int().min(0).max(65535).default(9100),
  HEALTH_HOST: z.string().default('0.0.0.0'),
  /**
   * SIGTERM to exit: at most this long, then the process exits with jobs still closing (they are
   * retried once their lock expires). Set it a few seconds under the pod's terminationGracePeriodSeconds;
   * the default fits the smallest of k8s/base (60 s).
   */
  SHUTDOWN_GRACE_MS: z.coerce.number().int().min(100).max(3_600_000).default(55_000),
});
export type WorkerHealthEnv = z.output<typeof workerHealthEnv>;

export interface HealthCheckResult {
  ok: boolean;
  detail: Record<string, unknown>;
}

export interface WorkerHealthOptions {
  port: number;
  host: string;
  /** Readiness beyond "not shutting down": e.g. Redis answers. Should answer within seconds. */
  ready: () => Promise<HealthCheckResult>;
  /** Set once shutdown starts: readiness answers 503 from then on. */
  isClosing: () => boolean;
  /** Served at GET /metrics when given (Prometheus text). */
  metrics?: { contentType(): string; text(): Promise<string> };
  /** Event-loop lag above which liveness fails (ms, the longest stall over the last 10-20 s). */
  maxLagMs?: number;
}

/**
 * A tiny HTTP listener for a worker's probes (and its metrics): `GET /health/live` (the event loop answers, and its
 * recent lag is below `maxLagMs`) and `GET /health/ready` (not closing, and `ready()` passes). A
 * blocked event loop fails liveness by not answering at all, which a Redis-side check cannot see.
 */
export async function startWorkerHealth(opts: WorkerHealthOptions): Promise<{ server: Server; port: number; close: () => Promise<void> }> {
  const lag = monitorEventLoopDelay({ resolution: 20 });
  lag.enable();
  const maxLagMs = opts.maxLagMs ?? 5000;
  // The histogram covers the last window only, so one old stall does not fail liveness for ever.
  let lastMaxMs = 0;
  const window = setInterval(() => {
    lastMaxMs = lag.max / 1e6;
    lag.reset();
  }, 10_000);
  window.unref();
  const server = createServer((req, res) => {
    const send = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(body));
    };
    if (req.method !== 'GET') return send(405, { status: 'method not allowed' });
    if (req.url === '/health/live') {
      // The monitor records a stall when its timer next runs; answering on the next turn lets it.
      setImmediate(() => {
        const maxMs = Math.max(lastMaxMs, lag.count > 0 ? lag.max / 1e6 : 0);
        const ok = maxMs <= maxLagMs;
        send(ok ? 200 : 503, { status: ok ? 'ok' : 'unhealthy', eventLoopLagMaxMs: Math.round(maxMs) });
      });
      return;
    }
    if (req.url === '/health/ready') {
      if (opts.isClosing()) return send(503, { status: 'closing' });
      opts.ready().then(
        (r) => send(r.ok ? 200 : 503, { status: r.ok ? 'ok' : 'unavailable', ...r.detail }),
        // The check's own failure is "not ready"; its message may name hosts, so it is not echoed.
        () => send(503, { status: 'unavailable' }),
      );
      return;
    }
    if (req.url === '/metrics' && opts.metrics) {
      const metrics = opts.metrics;
      metrics.text().then(
        (text) => {
          res.writeHead(200, { 'content-type': metrics.contentType(), 'cache-control': 'no-store' });
          res.end(text);
        },
        () => send(500, { status: 'metrics unavailable' }),
      );
      return;
    }
    send(404, { status: 'not found', paths: ['/health/live', '/health/ready', ...(opts.metrics ? ['/metrics'] : [])] });
  });
  // Probes are short; a client that holds a connection open must not keep the process alive.
  server.keepAliveTimeout = 1000;
  server.requestTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  server.unref();
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(window);
        lag.disable();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
