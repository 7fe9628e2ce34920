import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { QueueName } from '@rescue/contracts';
import type { CodingTask } from '@rescue/datasets';
import { FsGenerationStore, type GenerationResult } from '@rescue/generation';
import { GenerationBatches } from '@rescue/pipeline';
import { PipelineQueue } from '@rescue/queue';
import { deletePrefix, testRedisUrl, uniquePrefix } from '@rescue/testing';
import { HOSTILE_NAMES, expectUnpolluted } from './hostile-names';

// Task ids are the user's (a job API body, a tasks file): a batch whose tasks are named after
// Object.prototype properties must be counted, settled and cancelled like any other. Real Redis
// and BullMQ, no worker: each state is set up by the test.

const settings = { samples: 1, style: 'chat' as const, temperature: 0.2, guidanceCwes: 1, guidanceTokens: 1500 };
const IDS = [...HOSTILE_NAMES, 'plain'];
const tasks: CodingTask[] = IDS.map((id) => ({ id, language: 'python', prompt: 'def f():\n' }));

describe('a generation batch whose task ids are Object.prototype names', () => {
  let dir: string;
  let prefix: string;
  let redis: Redis;
  let queue: PipelineQueue;
  let store: FsGenerationStore;
  let batches: GenerationBatches;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'rescue-hostile-batch-'));
    prefix = uniquePrefix('hostile-batch');
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
    expectUnpolluted();
  });

  const submit = () => batches.submit({ tasks, rejected: 0, settings, kbDir: '/kb', kbVersion: 'kb-0123456789abcdef' });
  const settled = (batchId: string): Promise<Record<string, string>> => redis.hgetall(`${prefix}:jobapi:batch:${batchId}:settled`);

  it('records each settled task under its own id, `__proto__` included', async () => {
    const { batch } = await submit();
    expect(batch.counts.total).toBe(IDS.length);
    const waiting = await queue.queue(QueueName.Generate).getJobs(['waiting']);
    expect(waiting).toHaveLength(IDS.length);
    for (const job of waiting) {
      await store.putResult(batch.id, { id: job.data.taskId, samples: [] } as unknown as GenerationResult);
      await job.remove();
    }
    expect((await batches.status(batch.id)).counts).toMatchObject({ done: IDS.length, pending: 0 });
    expect(Object.keys(await settled(batch.id)).sort()).toEqual([...IDS].sort());
    const page = await batches.results(batch.id, undefined, 100);
    expect(page.items.map((i) => `${i.id}:${i.status}`)).toEqual(IDS.map((id) => `${id}:done`));
  });

  it('cancels every task, removing its job, and records each as cancelled', async () => {
    const { batch } = await submit();
    const cancelled = await batches.cancel(batch.id);
    expect(cancelled.counts).toMatchObject({ cancelled: IDS.length, pending: 0 });
    expect(await queue.queue(QueueName.Generate).getJobs(['waiting', 'active', 'delayed'])).toHaveLength(0);
    const recorded = await settled(batch.id);
    expect(Object.keys(recorded).sort()).toEqual([...IDS].sort());
    for (const id of IDS) expect(JSON.parse(recorded[id])).toEqual({ state: 'cancelled' });
  });
});
