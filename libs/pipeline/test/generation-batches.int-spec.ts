import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { QueueName } from '@rescue/contracts';
import type { CodingTask } from '@rescue/datasets';
import { ConflictError } from '@rescue/domain';
import { FsGenerationStore, type GenerationResult } from '@rescue/generation';
import { PipelineQueue } from '@rescue/queue';
import { deletePrefix, testRedisUrl, uniquePrefix } from '@rescue/testing';
import { GenerationBatches } from '../src/generation-batches';

// The batch bookkeeping against real Redis and BullMQ, with no worker: jobs stay waiting unless the
// test moves them, so each state is set up exactly.

const settings = { samples: 1, style: 'chat' as const, temperature: 0.2, guidanceCwes: 1, guidanceTokens: 1500 };
const tasks = (n: number): CodingTask[] => Array.from({ length: n }, (_, i) => ({ id: `t${i}`, language: 'python', prompt: `def f${i}():\n` }));

describe('GenerationBatches (real Redis, no worker)', () => {
  let dir: string;
  let prefix: string;
  let redis: Redis;
  let queue: PipelineQueue;
  let store: FsGenerationStore;
  let batches: GenerationBatches;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'rescue-batches-'));
    prefix = uniquePrefix('batches');
    redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
    queue = new PipelineQueue(redis, prefix);
    store = new FsGenerationStore(dir);
    batches = new GenerationBatches(redis, queue, store, prefix);
  });
  afterEach(async () => {
    await queue.close();
    redis.disconnect();
    await deletePrefix(prefix);
    rmSync(dir, { recursive: true, force: true });
  });

  const submit = (n: number, idempotency?: { key: string; caller: string; bodyHash: string }) =>
    batches.submit({ tasks: tasks(n), rejected: 0, settings, kbDir: '/kb', kbVersion: 'kb-0123456789abcdef', idempotency });
  const jobs = async (): Promise<number> => (await queue.queue(QueueName.Generate).getJobs(['waiting', 'active', 'completed', 'failed'])).length;

  it('one batch per idempotency key and body, scoped by caller; another body, or a submit still in flight, is a conflict', async () => {
    const key = { key: 'k1', caller: 'alice', bodyHash: 'h1' };
    const first = await submit(5, key);
    expect(first.replayed).toBe(false);
    const again = await submit(5, key);
    expect(again).toMatchObject({ replayed: true, batch: { id: first.batch.id } });
    expect(await jobs()).toBe(5);
    await expect(submit(5, { ...key, bodyHash: 'h2' })).rejects.toThrow(ConflictError);
    // Bob's k1 is his own.
    const bob = await submit(5, { ...key, caller: 'bob' });
    expect(bob.batch.id).not.toBe(first.batch.id);
    expect(await jobs()).toBe(10);
    // A claim whose batch never appeared (the submitting process died) blocks for a minute, then is taken over.
    const scopedKeys = await redis.keys(`${prefix}:jobapi:idem:*`);
    expect(scopedKeys).toHaveLength(2);
    const pending = { key: 'k2', caller: 'alice', bodyHash: 'h3' };
    const scoped = createHash('sha256').update('alice\0k2').digest('hex');
    await redis.set(`${prefix}:jobapi:idem:${scoped}`, JSON.stringify({ bodyHash: 'h3', batchId: `g${scoped.slice(0, 24)}`, at: Date.now() }));
    await expect(submit(2, pending)).rejects.toThrow(/still being handled/);
    await redis.set(`${prefix}:jobapi:idem:${scoped}`, JSON.stringify({ bodyHash: 'h3', batchId: `g${scoped.slice(0, 24)}`, at: Date.now() - 120_000 }));
    expect((await submit(2, pending)).replayed).toBe(false);
  });

  it('counts each task by its job and result, re-enqueues a job Redis lost, and pages in submit order', async () => {
    const { batch } = await submit(7);
    expect(batch.counts).toEqual({ total: 7, pending: 7, active: 0, done: 0, failed: 0, cancelled: 0 });
    const generate = queue.queue(QueueName.Generate);
    // t1's job vanishes (a Redis that lost writes): the next look enqueues it again.
    const waiting = await generate.getJobs(['waiting']);
    const lost = waiting.find((j) => j.data.taskId === 't1');
    await lost?.remove();
    expect(await jobs()).toBe(6);
    expect((await batches.status(batch.id)).counts.pending).toBe(7);
    expect(await jobs()).toBe(7);
    // t2 done (its result stored, its job trimmed as completed jobs are after an hour).
    const t2 = waiting.find((j) => j.data.taskId === 't2');
    await store.putResult(batch.id, { id: 't2', samples: [] } as unknown as GenerationResult);
    await t2?.remove();
    const status = await batches.status(batch.id);
    expect(status.counts).toMatchObject({ pending: 6, done: 1 });
    // No generator runs in this test: the status says so instead of "running" forever.
    expect(status.warnings).toEqual([expect.stringContaining('no worker consumes the "generate" queue')]);
    // A worker on the queue (any BullMQ worker names its connection) and the warning is gone.
    const workerRedis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
    const worker = new Worker(QueueName.Generate, null, { connection: workerRedis, prefix, autorun: false });
    try {
      await worker.waitUntilReady();
      expect((await batches.status(batch.id)).warnings).toBeUndefined();
    } finally {
      await worker.close();
      workerRedis.disconnect();
    }
    const page1 = await batches.results(batch.id, undefined, 4);
    const page2 = await batches.results(batch.id, page1.nextCursor, 4);
    expect([...page1.items, ...page2.items].map((i) => `${i.id}:${i.status}`)).toEqual(['t0:pending', 't1:pending', 't2:done', 't3:pending', 't4:pending', 't5:pending', 't6:pending']);
    expect(page2.nextCursor).toBeUndefined();
    await expect(batches.results(batch.id, 'bm9wZQ', 4)).rejects.toThrow(/cursor: not a cursor/);
  });

  it('cancel removes the waiting tasks and keeps the batch cancelled (nothing re-enqueued); retry-failed then refuses', async () => {
    const { batch } = await submit(4);
    const cancelled = await batches.cancel(batch.id);
    expect(cancelled).toMatchObject({ status: 'cancelled', counts: { cancelled: 4, pending: 0 } });
    expect(await jobs()).toBe(0);
    expect((await batches.status(batch.id)).counts.cancelled).toBe(4);
    expect(await jobs()).toBe(0);
    await expect(batches.retryFailed(batch.id)).rejects.toThrow(ConflictError);
    const settled = await batches.settledSinceLastAsked();
    expect(settled.map((s) => s.batch.id)).toEqual([batch.id]);
    expect(await batches.settledSinceLastAsked()).toEqual([]);
  });
});
