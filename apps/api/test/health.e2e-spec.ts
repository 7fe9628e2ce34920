import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { KbDirectory, localEmbedder } from '@rescue/knowledge';
import { buildKnowledgeBase } from '@rescue/pipeline';
import { deletePrefix, testRedisUrl, uniquePrefix } from '@rescue/testing';
import { loadApiConfig } from '../src/api.config';
import { ApiModule } from '../src/api.module';
import { ReadinessService } from '../src/readiness.service';

const examples = resolve(__dirname, '../../../examples/fix-pairs');

/** Issue 11: readiness said "ok" while the KB it serves failed its checksums. */
describe('GET /health/ready checks the live KB version', () => {
  let dir: string;
  let prefix: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'rescue-api-health-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  beforeEach(() => {
    prefix = uniquePrefix('health');
  });
  afterEach(async () => deletePrefix(prefix));

  const start = async (env: Record<string, string>): Promise<{ app: INestApplication; url: string }> => {
    const config = loadApiConfig({ REDIS_URL: testRedisUrl(), QUEUE_PREFIX: prefix, ...env });
    const moduleRef = await Test.createTestingModule({ imports: [ApiModule.register(config)] }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await app.listen(0, '127.0.0.1');
    return { app, url: `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}` };
  };
  /** The probe's answer once the producer's Redis connection is up (it refuses commands until then). */
  const ready = async (url: string): Promise<{ status: number; body: Record<string, unknown> }> => {
    for (let i = 0; ; i += 1) {
      const res = await fetch(`${url}/health/ready`);
      const answer = { status: res.status, body: (await res.json()) as Record<string, unknown> };
      if (answer.body.redis === 'up' || i >= 150) return answer;
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  it('is not ready while the live version fails verification, and ready again once a rebuild repaired it', async () => {
    const kbDir = join(dir, 'kb');
    const build = () =>
      buildKnowledgeBase({ sources: [examples], kbDir, catalog: new Map(), clusterBy: 'language-cwe', catalogOnlyNodes: false, hops: 2, maxLineBytes: 1 << 20, embedder: localEmbedder });
    const version = (await build()).manifest.version;
    appendFileSync(join(new KbDirectory(kbDir).versionDir(version), 'nodes.jsonl'), '{"id":"injected"}\n');
    const { app, url } = await start({ RESCUE_KB_DIR: kbDir });
    try {
      const broken = await ready(url);
      expect(broken).toEqual({ status: 503, body: { status: 'unavailable', redis: 'up', kb: 'corrupt', kbVersion: version } });
      // No path or file name in an unauthenticated answer.
      expect(JSON.stringify(broken.body)).not.toContain(kbDir);
      expect((await build()).manifest.version).toBe(version);
      expect(await ready(url)).toEqual({ status: 200, body: { status: 'ok', redis: 'up', kb: 'verified', kbVersion: version } });
    } finally {
      await app.close();
    }
  }, 60_000);

  it('is ready without a KB folder, or before the first build (the API also takes build jobs)', async () => {
    const none = await start({});
    try {
      expect(await ready(none.url)).toEqual({ status: 200, body: { status: 'ok', redis: 'up' } });
    } finally {
      await none.app.close();
    }
    const empty = await start({ RESCUE_KB_DIR: join(dir, 'not-built') });
    try {
      expect(await ready(empty.url)).toEqual({ status: 200, body: { status: 'ok', redis: 'up', kb: 'absent' } });
    } finally {
      await empty.app.close();
    }
  });

  it('stays ready for retrieval while Redis is away (only the job endpoints need it), and not ready once closing', async () => {
    const kbDir = join(dir, 'kb-no-redis');
    const version = (
      await buildKnowledgeBase({ sources: [examples], kbDir, catalog: new Map(), clusterBy: 'language-cwe', catalogOnlyNodes: false, hops: 2, maxLineBytes: 1 << 20, embedder: localEmbedder })
    ).manifest.version;
    // A port nothing listens on: Redis is down from the start.
    const config = loadApiConfig({ REDIS_URL: 'redis://127.0.0.1:1', QUEUE_PREFIX: prefix, RESCUE_KB_DIR: kbDir });
    const moduleRef = await Test.createTestingModule({ imports: [ApiModule.register(config)] }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await app.listen(0, '127.0.0.1');
    const url = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
    try {
      const res = await fetch(`${url}/health/ready`);
      expect({ status: res.status, body: await res.json() }).toEqual({ status: 200, body: { status: 'ok', redis: 'down', kb: 'verified', kbVersion: version } });
      app.get(ReadinessService).closing = true;
      const closing = await fetch(`${url}/health/ready`);
      expect(closing.status).toBe(503);
      expect(await closing.json()).toEqual({ status: 'closing' });
    } finally {
      await app.close();
    }
  }, 60_000);

  it('is not ready without a KB folder when Redis is away (a job gateway with no queue)', async () => {
    const config = loadApiConfig({ REDIS_URL: 'redis://127.0.0.1:1', QUEUE_PREFIX: prefix });
    const moduleRef = await Test.createTestingModule({ imports: [ApiModule.register(config)] }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await app.listen(0, '127.0.0.1');
    try {
      const res = await fetch(`http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}/health/ready`);
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({ status: 'unavailable', redis: 'down' });
    } finally {
      await app.close();
    }
  });
});
