/**
 * tools/probe.ts against the real worker health listener (libs/observability startWorkerHealth) and
 * the real API-style endpoint: it reaches the port each app listens on, passes on 200 and fails on
 * 503, a closed port or a worker that is shutting down.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { startWorkerHealth } from '@rescue/observability';
import { testRedisUrl } from '@rescue/testing';
import { probe } from '../../tools/probe';

describe('the container probe, against real listeners', () => {
  it("follows a worker's health listener on HEALTH_PORT: ready while Redis answers, not once closing", async () => {
    const redis = new Redis(testRedisUrl(), { lazyConnect: true, maxRetriesPerRequest: 0 });
    let closing = false;
    const health = await startWorkerHealth({
      port: 0,
      host: '127.0.0.1',
      isClosing: () => closing,
      ready: async () => {
        await redis.ping();
        return { ok: true, detail: { redis: 'up' } };
      },
    });
    const env = { HEALTH_PORT: String(health.port), HEALTH_HOST: '127.0.0.1' };
    try {
      expect(await probe('live', 'slicer', env)).toMatchObject({ ok: true });
      expect(await probe('ready', 'slicer', env)).toMatchObject({ ok: true });
      closing = true;
      expect(await probe('ready', 'slicer', env)).toEqual({ ok: false, reason: `GET /health/ready on 127.0.0.1:${health.port}: 503` });
      // Liveness is about the process, not its shutdown.
      expect(await probe('live', 'slicer', env)).toMatchObject({ ok: true });
    } finally {
      await health.close();
      redis.disconnect();
    }
    // Nothing listens any more: a failure naming the address.
    const gone = await probe('live', 'slicer', env);
    expect(gone.ok).toBe(false);
    expect(gone.reason).toContain(`127.0.0.1:${health.port}`);
  });

  it('probes the API on PORT, a wildcard HOST dialled on loopback', async () => {
    const seen: string[] = [];
    const server = createServer((req, res) => {
      seen.push(req.url ?? '');
      res.writeHead(req.url === '/health/ready' ? 503 : 200).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      const env = { PORT: String(port), HOST: '0.0.0.0' };
      expect(await probe('live', 'api', env)).toMatchObject({ ok: true });
      expect(await probe('ready', 'api', env)).toMatchObject({ ok: false });
      expect(seen).toEqual(['/health/live', '/health/ready']);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
