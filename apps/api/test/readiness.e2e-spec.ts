import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deletePrefix, prebuiltKb, uniquePrefix } from '@rescue/testing';
import { ReadinessService } from '../src/readiness.service';
import { type RunningApi, startApi } from './api-harness';

/** ReadinessService: what the health controller can ask (the KB open for retrieval; Redis, separately). */
describe('ReadinessService', () => {
  let dir: string;
  let prefix: string;
  let api: RunningApi | undefined;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rescue-ready-'));
    await prebuiltKb(dir);
  }, 60_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  beforeEach(() => {
    prefix = uniquePrefix('api-ready');
  });
  afterEach(async () => {
    await api?.close();
    api = undefined;
    await deletePrefix(prefix);
  });

  it('reports the KB open (with its version) and Redis up', async () => {
    api = await startApi({ QUEUE_PREFIX: prefix, RESCUE_KB_DIR: join(dir, 'kb') });
    await api.redisReady();
    const readiness = api.app.get(ReadinessService);
    const kb = await readiness.kb(30_000);
    expect(kb).toEqual({ ok: true, kbVersion: expect.stringMatching(/^kb-/) });
    expect(await readiness.redis()).toBe(true);
    expect(readiness.closing).toBe(false);
  });

  it('reports why the KB is not open, and Redis down, each on its own', async () => {
    api = await startApi({ QUEUE_PREFIX: prefix, RESCUE_KB_DIR: join(dir, 'no-such-kb'), REDIS_URL: 'redis://127.0.0.1:1' });
    const readiness = api.app.get(ReadinessService);
    const kb = await readiness.kb(30_000);
    expect(kb.ok).toBe(false);
    expect(kb.ok ? '' : kb.reason).toMatch(/cannot be opened/);
    const t0 = performance.now();
    expect(await readiness.redis()).toBe(false);
    expect(performance.now() - t0).toBeLessThan(2500);
  });

  it('says what to set when no KB is configured', async () => {
    api = await startApi({ QUEUE_PREFIX: prefix });
    expect(await api.app.get(ReadinessService).kb()).toEqual({ ok: false, reason: expect.stringContaining('RESCUE_KB_DIR') });
  });
});
