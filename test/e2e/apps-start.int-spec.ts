import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { getQueueToken } from '@nestjs/bullmq';
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { Queue } from 'bullmq';
import { QueueName, WorkerApp, queuesConsumedBy } from '@rescue/contracts';
import { deletePrefix, testRedisUrl, uniquePrefix } from '@rescue/testing';
import { loadApiConfig } from '../../apps/api/src/api.config';
import { ApiModule } from '../../apps/api/src/api.module';
import { loadSummarizeWorkerConfig } from '../../apps/cluster-summarize/src/cluster-summarize-worker.config';
import { ClusterSummarizeWorkerModule } from '../../apps/cluster-summarize/src/cluster-summarize-worker.module';
import { loadGeneratorWorkerConfig } from '../../apps/generator/src/generator-worker.config';
import { GeneratorWorkerModule } from '../../apps/generator/src/generator-worker.module';
import { loadIndexerWorkerConfig } from '../../apps/indexer/src/indexer-worker.config';
import { IndexerWorkerModule } from '../../apps/indexer/src/indexer-worker.module';
import { loadIngestWorkerConfig } from '../../apps/ingest/src/ingest-worker.config';
import { IngestWorkerModule } from '../../apps/ingest/src/ingest-worker.module';
import { loadSlicerWorkerConfig } from '../../apps/slicer/src/slicer-worker.config';
import { SlicerWorkerModule } from '../../apps/slicer/src/slicer-worker.module';

// The compiled sandboxed processor (npm test builds first).
const SANDBOX = resolve(__dirname, '../../dist/apps/slicer/src/slice.sandbox.js');

// Every app boots against a real Redis and registers exactly the queue the contracts give it.
describe('every app starts', () => {
  let prefix: string;
  beforeEach(() => {
    prefix = uniquePrefix('apps');
  });
  afterEach(async () => {
    await deletePrefix(prefix);
  });

  const config = () => ({ REDIS_URL: testRedisUrl(), QUEUE_PREFIX: prefix });
  const workers: [WorkerApp, () => unknown][] = [
    [WorkerApp.Ingest, () => IngestWorkerModule.register(loadIngestWorkerConfig({ ...config(), RESCUE_DATA_DIR: '/tmp/rescue-apps-start' }))],
    [WorkerApp.Slicer, () => SlicerWorkerModule.register(loadSlicerWorkerConfig(config()), SANDBOX)],
    [WorkerApp.ClusterSummarize, () => ClusterSummarizeWorkerModule.register(loadSummarizeWorkerConfig({ ...config(), RESCUE_DATA_DIR: '/tmp/rescue-apps-start' }))],
    [WorkerApp.Indexer, () => IndexerWorkerModule.register(loadIndexerWorkerConfig({ ...config(), RESCUE_DATA_DIR: '/tmp/rescue-apps-start' }))],
    [WorkerApp.Generator, () => GeneratorWorkerModule.register(loadGeneratorWorkerConfig({ ...config(), RESCUE_DATA_DIR: '/tmp/rescue-apps-start' }))],
  ];

  it.each(workers)('the %s worker registers only the queue it consumes', async (app, makeModule) => {
    const moduleRef = await Test.createTestingModule({ imports: [makeModule() as never] }).compile();
    await moduleRef.init();
    try {
      const [own] = queuesConsumedBy(app);
      const queue = moduleRef.get<Queue>(getQueueToken(own), { strict: false });
      expect(queue.name).toBe(own);
      expect(queue.opts.prefix).toBe(prefix);
      for (const other of Object.values(QueueName).filter((q) => q !== own)) {
        expect(() => moduleRef.get(getQueueToken(other), { strict: false })).toThrow();
      }
    } finally {
      await moduleRef.close();
    }
  });

  it('the api answers live and ready (Redis up)', async () => {
    const moduleRef = await Test.createTestingModule({ imports: [ApiModule.register(loadApiConfig(config()))] }).compile();
    const app: INestApplication = moduleRef.createNestApplication();
    await app.listen(0, '127.0.0.1');
    try {
      const { port } = app.getHttpServer().address() as AddressInfo;
      const live = await fetch(`http://127.0.0.1:${port}/health/live`);
      expect(live.status).toBe(200);
      // The API connects to Redis in the background (it serves retrieval without it), so readiness
      // says "down" until that connection is up: ask again for up to 15 s, as a probe would.
      let ready: unknown;
      for (let i = 0; i < 150; i += 1) {
        ready = await (await fetch(`http://127.0.0.1:${port}/health/ready`)).json();
        if ((ready as { redis?: string }).redis === 'up') break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(ready).toEqual({ status: 'ok', redis: 'up' });
    } finally {
      await app.close();
    }
  });
});
