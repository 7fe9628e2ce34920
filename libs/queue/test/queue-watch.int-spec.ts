import { FlowProducer, type Job, Queue, QueueEvents, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { QueueName } from '@rescue/contracts';
import { NotFoundError, TransientUpstreamError } from '@rescue/domain';
import { PipelineQueue, QueueWatch, connectRedis, connectionOptions, settledJob } from '@rescue/queue';
import { deletePrefix, testRedisUrl, uniquePrefix } from '@rescue/testing';

/** The watch of a producer's wait, on the test Redis: each problem ends the wait, classified, in bounded time. */
describe('QueueWatch and settledJob, on a real Redis', () => {
  let prefix: string;
  let redis: Redis;
  const closers: Array<() => Promise<unknown>> = [];
  const conn = () => connectionOptions('worker', testRedisUrl()) as never;

  beforeEach(async () => {
    prefix = uniquePrefix('watch');
    redis = await connectRedis('producer', testRedisUrl());
  });

  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
    redis.disconnect();
    await deletePrefix(prefix);
  });

  function queueOf(name: QueueName): Queue {
    const q = new Queue(name, { connection: redis, prefix });
    closers.push(() => q.close());
    return q;
  }

  function eventsOf(name: QueueName): QueueEvents {
    const e = new QueueEvents(name, { connection: conn(), prefix });
    closers.push(() => e.close());
    return e;
  }

  function workerOn(name: QueueName, body: (job: Job) => Promise<unknown>): Worker {
    const w = new Worker(name, body, { connection: conn(), prefix });
    closers.push(() => w.close());
    return w;
  }

  async function outcome<T>(p: Promise<T>): Promise<{ error?: Error; ms: number }> {
    const started = Date.now();
    try {
      await p;
      return { ms: Date.now() - started };
    } catch (error) {
      return { error: error as Error, ms: Date.now() - started };
    }
  }

  it('ends the wait when no worker consumes the queue, naming the worker app to start', async () => {
    const queue = queueOf(QueueName.Generate);
    const events = eventsOf(QueueName.Generate);
    await events.waitUntilReady();
    await queue.add('TaskGenerate', {}, { jobId: 'j1' });
    const { error, ms } = await outcome(settledJob(queue, 'j1', events, { timeoutMs: 1000, intervalMs: 100 }));
    expect(error).toBeInstanceOf(TransientUpstreamError);
    expect(error?.message).toMatch(/no worker has consumed queue generate .*start the generator worker \(npm run start:generator\)/);
    expect(ms).toBeLessThan(3000);
    // The job is still there for a worker started later: nothing lost.
    expect(await queue.getJob('j1')).toBeDefined();
  });

  it("watches the queues a flow's children wait in: a parent whose worker runs still waits on a stage with none", async () => {
    workerOn(QueueName.Index, async () => 'indexed');
    const flows = new FlowProducer({ connection: conn(), prefix });
    closers.push(() => flows.close());
    const index = queueOf(QueueName.Index);
    const events = eventsOf(QueueName.Index);
    await events.waitUntilReady();
    await flows.add({ name: 'KbIndex', queueName: QueueName.Index, opts: { jobId: 'top' }, children: [{ name: 'ClusterSummarize', queueName: QueueName.Summarize, opts: { jobId: 'child' } }] });
    const { error, ms } = await outcome(settledJob(index, 'top', events, { timeoutMs: 1000, intervalMs: 100 }));
    expect(error?.message).toMatch(/no worker has consumed queue cluster-summarize .*npm run start:cluster-summarize/);
    expect(ms).toBeLessThan(3000);
  });

  it("waits on many jobs of one queue at once within the queue's listener limit (no leak warning), and gives the room back", async () => {
    const queue = queueOf(QueueName.Generate);
    const events = eventsOf(QueueName.Generate);
    await events.waitUntilReady();
    const watch = await new QueueWatch(queue, redis, { timeoutMs: 10_000, intervalMs: 100 }).start();
    closers.push(() => watch.close());
    const ids = Array.from({ length: 25 }, (_, i) => `many-${i}`);
    for (const id of ids) await queue.add('TaskGenerate', {}, { jobId: id });
    // No worker yet: every wait is in progress, each with BullMQ's 'closing' listener on the queue.
    const waits = Promise.all(ids.map((id) => settledJob(queue, id, events, watch)));
    const deadline = Date.now() + 5000;
    while (queue.listenerCount('closing') < ids.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(queue.listenerCount('closing')).toBe(ids.length);
    // Node warns of a possible leak once an event has more listeners than this.
    expect(queue.getMaxListeners()).toBeGreaterThanOrEqual(ids.length);
    workerOn(QueueName.Generate, async () => 'ok');
    const jobs = await waits;
    expect(await Promise.all(jobs.map((j) => j.getState()))).toEqual(ids.map(() => 'completed'));
    expect(queue.listenerCount('closing')).toBe(0);
    expect(queue.getMaxListeners()).toBe(10);
  });

  it('tells a vanished job from a Redis that lost its data', async () => {
    const queue = queueOf(QueueName.Generate);
    const events = eventsOf(QueueName.Generate);
    await events.waitUntilReady();
    workerOn(QueueName.Generate, () => new Promise((r) => setTimeout(r, 10_000)));
    const watch = await new QueueWatch(queue, redis, { timeoutMs: 5000, intervalMs: 100 }).start();
    closers.push(() => watch.close());
    await queue.add('TaskGenerate', {}, { jobId: 'gone', delay: 60_000 });
    const removed = outcome(settledJob(queue, 'gone', events, watch));
    await (await queue.getJob('gone'))?.remove();
    const r = await removed;
    expect(r.error).toBeInstanceOf(NotFoundError);
    // Told by the removal event or by the watch's check, whichever comes first; either way by name.
    for (const part of [/\bgone\b/, /vanished/, /generate/, /run the same command again/i]) expect(r.error?.message).toMatch(part);

    // Every key of the run gone at once (Redis restarted empty, or flushed): the sentinel says so.
    const watch2 = await new QueueWatch(queue, redis, { timeoutMs: 5000, intervalMs: 100 }).start();
    closers.push(() => watch2.close());
    await queue.add('TaskGenerate', {}, { jobId: 'lost', delay: 60_000 });
    const lost = outcome(settledJob(queue, 'lost', events, watch2));
    await deletePrefix(prefix);
    const l = await lost;
    expect(l.error).toBeInstanceOf(TransientUpstreamError);
    expect(l.error?.message).toMatch(/Redis lost its data .*appendonly yes/);
    expect(l.ms).toBeLessThan(2000);
  });

  it('settles a job whose completion event it missed, and enqueues work that failed for good as a new attempt', async () => {
    const producer = new PipelineQueue(redis, prefix, 1);
    closers.push(() => producer.close());
    let fail = true;
    workerOn(QueueName.Index, async () => {
      if (fail) throw new Error('boom');
      return 'ok';
    });
    const events = eventsOf(QueueName.Index);
    await events.waitUntilReady();
    const payload = { v: 1 as const, buildId: 'build-watch' };
    const [first] = await producer.enqueueRetryingFailed('KbIndex' as never, [payload as never]);
    expect(first.attempt).toBe(0);
    const failed = await settledJob(producer.queue(QueueName.Index), first.jobId, events, { timeoutMs: 5000 });
    expect(await failed.getState()).toBe('failed');
    fail = false;
    const [second] = await producer.enqueueRetryingFailed('KbIndex' as never, [payload as never]);
    expect(second).toMatchObject({ attempt: 1, failedBefore: [first.jobId] });
    expect(second.jobId).not.toBe(first.jobId);
    // Events from a listener that never started (as after a Redis restart): the watch's own check settles it.
    const deaf = new QueueEvents(QueueName.Index, { connection: conn(), prefix, autorun: false });
    closers.push(() => deaf.close());
    const done = await settledJob(producer.queue(QueueName.Index), second.jobId, deaf, { timeoutMs: 5000, intervalMs: 100 });
    expect(await done.getState()).toBe('completed');
    // The failed attempt stays, for people to read.
    expect(await (await producer.queue(QueueName.Index).getJob(first.jobId))?.getState()).toBe('failed');
    const [third] = await producer.enqueueRetryingFailed('KbIndex' as never, [payload as never]);
    expect(third).toMatchObject({ attempt: 1, jobId: second.jobId });
  });
});
