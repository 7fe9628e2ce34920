import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Test, type TestingModule } from '@nestjs/testing';
import { type Job, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { JobName, QueueName } from '@rescue/contracts';
import { FixPairIngestor, RedisRecordStore } from '@rescue/datasets';
import { PipelineQueue, connectionOptions, settledJob } from '@rescue/queue';
import { type SliceDocument, sliceId } from '@rescue/slicing';
import { deletePrefix, testRedisUrl, uniquePrefix } from '@rescue/testing';
import { loadSlicerWorkerConfig } from '../src/slicer-worker.config';
import { SlicerWorkerModule } from '../src/slicer-worker.module';

const SANDBOX = resolve(__dirname, '../../../dist/apps/slicer/src/slice.sandbox.js');
const examples = resolve(__dirname, '../../../examples/fix-pairs');

describe('slicer worker (real Redis, sandboxed processor in a worker thread)', () => {
  let prefix: string;
  let dataDir: string;
  let app: TestingModule;
  let redis: Redis;
  let events: QueueEvents;
  let recordIds: string[];

  beforeAll(async () => {
    if (!existsSync(SANDBOX)) throw new Error(`${SANDBOX} is missing: run "npm run build" (npm test does it first)`);
    prefix = uniquePrefix('slicer');
    dataDir = mkdtempSync(join(tmpdir(), 'rescue-slicer-'));
    redis = new Redis(testRedisUrl());
    const records = new RedisRecordStore(redis, prefix);
    await new FixPairIngestor(records).ingest([examples], { format: 'auto', maxLineBytes: 1 << 20 });
    recordIds = [];
    for await (const id of records.ids()) recordIds.push(id);
    const config = loadSlicerWorkerConfig({ REDIS_URL: testRedisUrl(), QUEUE_PREFIX: prefix, RECORD_STORE: 'redis', RESCUE_DATA_DIR: dataDir, SLICER_CONCURRENCY: '1' });
    app = await Test.createTestingModule({ imports: [SlicerWorkerModule.register(config, SANDBOX)] }).compile();
    await app.init();
    events = new QueueEvents(QueueName.Slice, { connection: connectionOptions('worker', testRedisUrl()) as never, prefix });
    await events.waitUntilReady();
  });

  afterAll(async () => {
    await events.close();
    await app.close();
    redis.disconnect();
    await deletePrefix(prefix);
    rmSync(dataDir, { recursive: true, force: true });
  });

  const run = (jobId: string): Promise<Job> => settledJob(app.get(PipelineQueue).queue(QueueName.Slice), jobId, events, 60_000);

  it('slices a batch of stored records into the slice store, and a repeated batch redoes nothing', async () => {
    const { jobId } = await app.get(PipelineQueue).enqueue(JobName.RecordSlice, { v: 1, buildId: 'build-a', recordIds, hops: 2 });
    const job = await run(jobId);
    expect(job.failedReason).toBeUndefined();
    expect(await job.getState()).toBe('completed');
    expect(job.returnvalue).toMatchObject({ sliced: recordIds.length, failed: 0, alreadyStored: 0 });

    const slices = new RedisRecordStore<SliceDocument>(redis, prefix, 'slices');
    expect(await slices.count()).toBe(recordIds.length);
    const one = await slices.get(sliceId(recordIds[0], 2));
    expect(one?.status).toBe('sliced');
    if (one?.status === 'sliced') {
      expect(one.secure.code.length).toBeGreaterThan(0);
      expect(one.recordId).toBe(recordIds[0]);
    }

    const again = await app.get(PipelineQueue).enqueue(JobName.RecordSlice, { v: 1, buildId: 'build-b', recordIds, hops: 2 });
    const second = await run(again.jobId);
    expect(second.returnvalue).toMatchObject({ sliced: 0, alreadyStored: recordIds.length });
  });

  it('fails a batch naming records that are not stored, without retrying, after keeping the others', async () => {
    const ghost = 'f'.repeat(32);
    const { jobId } = await app.get(PipelineQueue).enqueue(JobName.RecordSlice, { v: 1, buildId: 'build-c', recordIds: [recordIds[0], ghost], hops: 1 });
    const job = await run(jobId);
    expect(await job.getState()).toBe('failed');
    expect(job.attemptsMade).toBe(1);
    expect(job.failedReason).toContain(ghost);
    const slices = new RedisRecordStore<SliceDocument>(redis, prefix, 'slices');
    expect(await slices.has(sliceId(recordIds[0], 1))).toBe(true);
  });
});
