import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Test, type TestingModule } from '@nestjs/testing';
import { type Job, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { JobName, QueueName } from '@rescue/contracts';
import { RedisRecordStore, type Reject, fileSha256 } from '@rescue/datasets';
import type { IngestJobResult } from '@rescue/pipeline';
import { PipelineQueue, connectionOptions, settledJob } from '@rescue/queue';
import { deletePrefix, testRedisUrl, uniquePrefix } from '@rescue/testing';
import { loadIngestWorkerConfig } from '../src/ingest-worker.config';
import { IngestWorkerModule } from '../src/ingest-worker.module';

const examples = resolve(__dirname, '../../../examples/fix-pairs');

describe('ingest worker (real Redis, real BullMQ worker)', () => {
  let prefix: string;
  let dataDir: string;
  let app: TestingModule;
  let redis: Redis;
  let events: QueueEvents;

  beforeAll(async () => {
    prefix = uniquePrefix('ingest');
    dataDir = mkdtempSync(join(tmpdir(), 'rescue-ingest-'));
    const config = loadIngestWorkerConfig({ REDIS_URL: testRedisUrl(), QUEUE_PREFIX: prefix, RESCUE_DATA_DIR: dataDir, RECORD_STORE: 'redis', INGEST_CONCURRENCY: '2' });
    app = await Test.createTestingModule({ imports: [IngestWorkerModule.register(config)] }).compile();
    await app.init();
    redis = new Redis(testRedisUrl());
    events = new QueueEvents(QueueName.Ingest, { connection: connectionOptions('worker', testRedisUrl()) as never, prefix });
    await events.waitUntilReady();
  });

  afterAll(async () => {
    await events.close();
    await app.close();
    redis.disconnect();
    await deletePrefix(prefix);
    rmSync(dataDir, { recursive: true, force: true });
  });

  const run = (jobId: string): Promise<Job> => settledJob(app.get(PipelineQueue).queue(QueueName.Ingest), jobId, events, 30_000);

  it('ingests the example fix pairs from a queue job into the Redis record store, keeping good lines around a bad one', async () => {
    const withBadLine = join(dataDir, 'mixed.jsonl');
    const good = readFileSync(join(examples, 'generic-sample.jsonl'), 'utf8').trim().split('\n');
    writeFileSync(withBadLine, [good[0], '{"cwe": "CWE-89", "before": 1}', good[1]].join('\n'));
    const files = [join(examples, 'generic-sample.jsonl'), join(examples, 'sven-style-sample.jsonl'), withBadLine];
    const sources = await Promise.all(files.map(async (path) => ({ path, sha256: await fileSha256(path) })));

    const { jobId } = await app.get(PipelineQueue).enqueue(JobName.DatasetIngest, { v: 1, sources });
    const job = await run(jobId);

    expect(await job.getState()).toBe('completed');
    const result = job.returnvalue as IngestJobResult;
    expect(result.report.linesRead).toBe(good.length + 3 + 3);
    expect(result.report.kept).toBe(good.length + 3);
    expect(result.report.duplicates).toBe(2);
    expect(result.report.rejected).toBe(1);
    const rejects = readFileSync(result.rejectsPath, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Reject);
    expect(rejects).toEqual([expect.objectContaining({ file: withBadLine, line: 2, code: 'wrong_type', field: 'before' })]);
    expect(await new RedisRecordStore(redis, prefix).count()).toBe(good.length + 3);
  });

  it('fails a job whose source changed after it was enqueued, without retrying', async () => {
    const path = join(dataDir, 'changing.jsonl');
    writeFileSync(path, readFileSync(join(examples, 'generic-sample.jsonl')));
    const { jobId } = await app.get(PipelineQueue).enqueue(JobName.DatasetIngest, { v: 1, sources: [{ path, sha256: await fileSha256(path) }] });
    const job = await run(jobId);
    // Only the first run can see the old content; the assertion below is about the second job.
    expect(await job.getState()).toBe('completed');
    writeFileSync(path, '{"cwe": 79}\n');
    const stale = await app.get(PipelineQueue).enqueue(JobName.DatasetIngest, { v: 1, sources: [{ path, sha256: 'f'.repeat(64) }] });
    const failed = await run(stale.jobId);
    expect(await failed.getState()).toBe('failed');
    expect(failed.attemptsMade).toBe(1);
    expect(failed.failedReason).toMatch(/changed since the job was enqueued/);
  });

  it('fails a malformed payload once, naming the field', async () => {
    const queue = app.get(PipelineQueue).queue(QueueName.Ingest);
    const job = await queue.add(JobName.DatasetIngest, { v: 1, sources: [{ path: '/x', sha256: 'nope' }] }, { jobId: 'DatasetIngest-malformed', attempts: 5 });
    const done = await run(job.id as string);
    expect(await done.getState()).toBe('failed');
    expect(done.attemptsMade).toBe(1);
    expect(done.failedReason).toMatch(/sources\.0\.sha256/);
  });
});
