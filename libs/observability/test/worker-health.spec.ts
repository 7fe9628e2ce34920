import { startWorkerHealth } from '../src/worker-health';

describe('worker health listener', () => {
  it('answers live, ready while the check passes, and 503 when closing or the check fails', async () => {
    let closing = false;
    let redisUp = true;
    const h = await startWorkerHealth({ port: 0, host: '127.0.0.1', isClosing: () => closing, ready: async () => ({ ok: redisUp, detail: { redis: redisUp ? 'up' : 'down' } }) });
    const get = async (path: string) => {
      const res = await fetch(`http://127.0.0.1:${h.port}${path}`);
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    try {
      expect(await get('/health/live')).toMatchObject({ status: 200, body: { status: 'ok' } });
      expect(await get('/health/ready')).toEqual({ status: 200, body: { status: 'ok', redis: 'up' } });
      redisUp = false;
      expect(await get('/health/ready')).toEqual({ status: 503, body: { status: 'unavailable', redis: 'down' } });
      redisUp = true;
      closing = true;
      expect(await get('/health/ready')).toEqual({ status: 503, body: { status: 'closing' } });
      // Liveness does not depend on readiness: a closing worker is still alive.
      expect((await get('/health/live')).status).toBe(200);
      expect((await get('/nope')).status).toBe(404);
      // No metrics given: none served.
      expect((await fetch(`http://127.0.0.1:${h.port}/metrics`)).status).toBe(404);
    } finally {
      await h.close();
    }
  });

  it('fails liveness when the event loop was blocked longer than maxLagMs', async () => {
    const h = await startWorkerHealth({ port: 0, host: '127.0.0.1', isClosing: () => false, ready: async () => ({ ok: true, detail: {} }), maxLagMs: 100 });
    try {
      // The monitor measures between its own ticks: let it tick a few times first, as a running worker's has.
      await new Promise((r) => setTimeout(r, 100));
      const until = Date.now() + 400;
      while (Date.now() < until) {
        // Blocking on purpose: what a stuck CPU-bound job does to a worker's loop.
      }
      const res = await fetch(`http://127.0.0.1:${h.port}/health/live`);
      expect(res.status).toBe(503);
      expect(((await res.json()) as { eventLoopLagMaxMs: number }).eventLoopLagMaxMs).toBeGreaterThanOrEqual(100);
    } finally {
      await h.close();
    }
  });
});

describe('worker metrics', () => {
  it('serves the given registry at /metrics', async () => {
    const { Metrics } = await import('../src/metrics');
    const metrics = new Metrics({ app: 'w', defaultMetrics: false });
    metrics.recordLlmCall({ role: 'generator', outcome: 'ok', seconds: 1 });
    const h = await startWorkerHealth({ port: 0, host: '127.0.0.1', isClosing: () => false, ready: async () => ({ ok: true, detail: {} }), metrics });
    try {
      const res = await fetch(`http://127.0.0.1:${h.port}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain('text/plain');
      expect(await res.text()).toContain('rescue_llm_calls_total{role="generator",outcome="ok",app="w"} 1');
    } finally {
      await h.close();
    }
  });
});
