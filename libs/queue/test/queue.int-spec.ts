import { type Job, QueueEvents, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { JOB_QUEUE, JobName, PayloadError, QueueName, jobIdFor } from '@rescue/contracts';
import { ConfigError, InvalidInputError, NotFoundError, RateLimitedError, TransientUpstreamError } from '@rescue/domain';
import { PipelineQueue, connectRedis, connectionOptions, runClassified } from '@rescue/queue';
import { deletePrefix, testRedisUrl, uniquePrefix } from '@rescue/testing';

const payload = { v: 1 as const, buildId: 'build-1' };

describe('PipelineQueue and the error mapping, on a real Redis', () => {
  let prefix: string;
  let redis: Redis;
  let producer: PipelineQueue;
  const workers: Worker[] = [];
  const events: QueueEvents[] = [];

  beforeEach(async () => {
    prefix = uniquePrefix('queue');
    redis = await connectRedis('producer', testRedisUrl());
    producer = new PipelineQueue(redis, prefix, 3);
  });

  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.close()));
    await Promise.all(events.splice(0).map((e) => e.close()));
    await producer.close();
    redis.disconnect();
    await deletePrefix(prefix);
  });

  function startWorker(body: (job: Job, worker: Worker) => Promise<unknown>): Worker {
    const worker: Worker = new Worker(QueueName.Index, (job) => runClassified(worker, () => body(job, worker)), {
      connection: connectionOptions('worker', testRedisUrl()) as never,
      prefix,
      settings: { backoffStrategy: () => 10 },
    });
    workers.push(worker);
    return worker;
  }

  async function finished(jobId: string): Promise<{ state: string; job: Job }> {
    const queue = producer.queue(QueueName.Index);
    const qe = new QueueEvents(QueueName.Index, { connection: connectionOptions('worker', testRedisUrl()) as never, prefix });
    events.push(qe);
    await qe.waitUntilReady();
    const job = (await queue.getJob(jobId)) as Job;
    await job.waitUntilFinished(qe, 20_000).catch(() => undefined);
    const fresh = (await queue.getJob(jobId)) as Job;
    return { state: await fresh.getState(), job: fresh };
  }

  it('routes a job to its queue under a content-derived id, and adding it twice makes one job', async () => {
    const first = await producer.enqueue(JobName.KbIndex, payload);
    const second = await producer.enqueue(JobName.KbIndex, { ...payload });
    expect(first).toEqual({ queue: JOB_QUEUE[JobName.KbIndex], jobId: jobIdFor(JobName.KbIndex, payload) });
    expect(second.jobId).toBe(first.jobId);
    expect(await producer.queue(QueueName.Index).count()).toBe(1);
    const job = await producer.queue(QueueName.Index).getJob(first.jobId);
    expect(job?.opts.attempts).toBe(3);
    expect(job?.opts.removeOnFail).toEqual({ age: 7 * 24 * 3600 });
  });

  it('refuses an invalid payload before it reaches Redis', async () => {
    await expect(producer.enqueue(JobName.KbIndex, { v: 1, buildId: '' })).rejects.toBeInstanceOf(PayloadError);
    expect(await producer.queue(QueueName.Index).count()).toBe(0);
  });

  it('fails bad input once, without retries', async () => {
    let runs = 0;
    startWorker(async () => {
      runs += 1;
      throw new InvalidInputError('record 42 has no CWE');
    });
    const { jobId } = await producer.enqueue(JobName.KbIndex, payload);
    const { state, job } = await finished(jobId);
    expect(state).toBe('failed');
    expect(runs).toBe(1);
    expect(job.failedReason).toContain('record 42 has no CWE');
  });

  it('fails a missing thing and a bad configuration once each, without retries', async () => {
    const runs = new Map<string, number>();
    startWorker(async (job) => {
      const { buildId } = job.data as typeof payload;
      runs.set(buildId, (runs.get(buildId) ?? 0) + 1);
      if (buildId === 'build-missing') throw new NotFoundError('KB version kb-1 is not in /kb');
      throw new ConfigError(['LLM_BASE_URL=(unset): required']);
    });
    const missing = await producer.enqueue(JobName.KbIndex, { ...payload, buildId: 'build-missing' });
    const config = await producer.enqueue(JobName.KbIndex, { ...payload, buildId: 'build-config' });
    const [a, b] = await Promise.all([finished(missing.jobId), finished(config.jobId)]);
    expect([a.state, b.state]).toEqual(['failed', 'failed']);
    expect(Object.fromEntries(runs)).toEqual({ 'build-missing': 1, 'build-config': 1 });
    expect(a.job.failedReason).toBe('NotFoundError: KB version kb-1 is not in /kb');
    expect(b.job.failedReason).toContain('LLM_BASE_URL=(unset)');
  });

  it('retries an error outside the family (internal) like a transient one', async () => {
    let runs = 0;
    startWorker(async () => {
      runs += 1;
      if (runs < 2) throw new TypeError('cannot read properties of undefined');
      return 'done';
    });
    const { jobId } = await producer.enqueue(JobName.KbIndex, payload);
    const { state } = await finished(jobId);
    expect(state).toBe('completed');
    expect(runs).toBe(2);
  });

  it('retries transient failures with backoff until the job succeeds', async () => {
    let runs = 0;
    startWorker(async () => {
      runs += 1;
      if (runs < 3) throw new TransientUpstreamError(`upstream 503 (run ${runs})`);
      return { ok: true };
    });
    const { jobId } = await producer.enqueue(JobName.KbIndex, payload);
    const { state, job } = await finished(jobId);
    expect(state).toBe('completed');
    expect(runs).toBe(3);
    expect(job.returnvalue).toEqual({ ok: true });
  });

  it('turns a rate limit into a queue-wide pause that uses up no attempt', async () => {
    let runs = 0;
    startWorker(async () => {
      runs += 1;
      if (runs === 1) throw new RateLimitedError('429 from the provider', 300);
      return 'done';
    });
    const { jobId } = await producer.enqueue(JobName.KbIndex, payload);
    const { state, job } = await finished(jobId);
    expect(state).toBe('completed');
    expect(runs).toBe(2);
    expect(job.attemptsMade).toBeLessThanOrEqual(1);
  });

  it('fails fast when Redis is unreachable, naming the host', async () => {
    const started = Date.now();
    const refused = connectRedis('producer', 'redis://127.0.0.1:1');
    await expect(refused).rejects.toThrow(/127\.0\.0\.1:1/);
    // Upstream trouble: a queue would retry it.
    await expect(refused).rejects.toBeInstanceOf(TransientUpstreamError);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
