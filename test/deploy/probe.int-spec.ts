/**
 * tools/probe.ts against a real Redis and a real BullMQ Worker: the worker connection it looks for
 * is the one BullMQ actually names, and an unreachable Redis fails readiness but not liveness.
 */
import { Worker } from 'bullmq';
import { deletePrefix, testRedisUrl, uniquePrefix } from '@rescue/testing';
import { QueueName } from '@rescue/contracts';
import { connectionOptions } from '@rescue/queue';
import { probe } from '../../tools/probe';

describe('the container probe, with Redis', () => {
  const saved = { REDIS_URL: process.env.REDIS_URL, QUEUE_PREFIX: process.env.QUEUE_PREFIX };
  const prefix = uniquePrefix('probe');

  afterEach(() => {
    for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  });
  afterAll(() => deletePrefix(prefix));

  it('passes while the slicer worker holds its queue connection, and fails once it is closed', async () => {
    process.env.REDIS_URL = testRedisUrl();
    process.env.QUEUE_PREFIX = prefix;
    expect(await probe('ready', 'slicer')).toMatchObject({ ok: false });
    // Connected as the worker apps connect (QueueModule.forWorker).
    const worker = new Worker(QueueName.Slice, async () => undefined, { connection: connectionOptions('worker', testRedisUrl()) as never, prefix });
    try {
      await worker.waitUntilReady();
      // The blocking connection is named once the worker starts fetching.
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(await probe('ready', 'slicer')).toMatchObject({ ok: true });
      expect(await probe('live', 'slicer')).toMatchObject({ ok: true });
      // The ingest queue has no worker here.
      expect(await probe('ready', 'ingest')).toMatchObject({ ok: false });
    } finally {
      await worker.close();
    }
    expect(await probe('ready', 'slicer')).toMatchObject({ ok: false });
  });

  it('fails readiness but not liveness when Redis cannot be reached', async () => {
    process.env.REDIS_URL = 'redis://127.0.0.1:1';
    expect(await probe('ready', 'generator')).toMatchObject({ ok: false });
    expect(await probe('live', 'generator')).toMatchObject({ ok: true });
  });
});
