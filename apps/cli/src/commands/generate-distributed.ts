import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { resolve } from 'node:path';
import { QueueEvents } from 'bullmq';
import { type RedisEnv, type StorageEnv, loadConfig, redisEnv, storageEnv } from '@rescue/config';
import { JobName, QueueName } from '@rescue/contracts';
import type { CodingTask } from '@rescue/datasets';
import { type BatchSummary, type GenerationResult, newBatchSummary, resumeOutput } from '@rescue/generation';
import { KbDirectory } from '@rescue/knowledge';
import { openStores } from '@rescue/pipeline';
import { PipelineQueue, QueueWatch, boundedClose, connectRedis, connectionOptions, producerLink, settledJob, whileRedisLinkDown } from '@rescue/queue';

export interface DistributedGenerateInput {
  tasks: CodingTask[];
  out: string;
  kbDir: string;
  samples: number;
  style: 'chat' | 'completion';
  temperature: number;
  guidance: { cwes: number; tokens: number };
  /** Attempt the tasks that failed in an earlier run again (the default); false keeps their failures. */
  retryFailed?: boolean;
}

export type DistributedGenerateConfig = Pick<RedisEnv, 'REDIS_URL' | 'QUEUE_PREFIX' | 'QUEUE_WAIT_TIMEOUT_MS'> & StorageEnv;

export interface DistributedBatchSummary extends BatchSummary {
  batchId: string;
  /** Tasks whose earlier job had failed for good and that got a new job (a new attempt id) this run. */
  newAttempts: number;
  /** Tasks whose result a worker had stored already (an earlier run stopped before writing it), so no job ran. */
  fromStore: number;
}

/**
 * `rescue generate --distributed`: one queue job per task on the generator workers. The batch id
 * is derived from the tasks and settings, so after a crash the same command finds its jobs and
 * results again; tasks already in `--out` are not enqueued, and those that failed there are
 * attempted again under new job ids (unless `retryFailed` is false). The wait is watched: no
 * worker, a Redis that lost its data or stays down, or a vanished job ends the run within
 * QUEUE_WAIT_TIMEOUT_MS with a classified error saying what to do; what finished is in `--out`.
 */
export async function generateDistributed(input: DistributedGenerateInput, config: DistributedGenerateConfig = loadConfig(redisEnv.extend(storageEnv.shape))): Promise<DistributedBatchSummary> {
  const started = performance.now();
  const manifest = await new KbDirectory(input.kbDir).manifest();
  const batchId = `g${createHash('sha256')
    .update(JSON.stringify([input.tasks, manifest.version, input.samples, input.style, input.temperature, input.guidance]))
    .digest('hex')
    .slice(0, 24)}`;
  const resumed = resumeOutput(input.out, { retryFailed: input.retryFailed });
  const todo = input.tasks.filter((t) => !resumed.done.has(t.id));
  const todoIds = new Set(todo.map((t) => t.id));
  const redis = await connectRedis('producer', config.REDIS_URL);
  const stores = openStores(config);
  const store = stores.generation;
  // A Redis outage mid-run is one "lost" and one "back" line on stderr, not a stack per reconnect.
  const link = producerLink(config.REDIS_URL, (line) => process.stderr.write(`rescue: ${line}\n`));
  const queue = new PipelineQueue(redis, config.QUEUE_PREFIX).reportTo(link);
  const events = new QueueEvents(QueueName.Generate, { connection: connectionOptions('worker', config.REDIS_URL) as never, prefix: config.QUEUE_PREFIX });
  link.watch(events, `queue events ${QueueName.Generate}`);
  const watch = new QueueWatch(queue.queue(QueueName.Generate), redis, { timeoutMs: config.QUEUE_WAIT_TIMEOUT_MS });
  const out = createWriteStream(input.out, { flags: 'a' });
  const summary: DistributedBatchSummary = {
    batchId,
    ...newBatchSummary(input.tasks.length, input.tasks.length - todo.length, new Map([...resumed.retry].filter(([id]) => todoIds.has(id)))),
    newAttempts: 0,
    fromStore: 0,
  };
  const record = (result: GenerationResult): void => {
    summary.done += 1;
    summary.samples += result.samples.length;
    summary.tokens.prompt += result.tokens.prompt;
    summary.tokens.completion += result.tokens.completion;
    out.write(`${JSON.stringify(result)}\n`);
  };
  try {
    await events.waitUntilReady();
    await watch.start();
    // A result a worker stored for a task whose line never reached --out (the last run stopped
    // first) is written as it is: running the task again would pay for it twice.
    const stored = await Promise.all(todo.map((t) => store.result(batchId, t.id)));
    const pending = todo.filter((_, i) => !stored[i]);
    for (const result of stored) if (result) record(result);
    summary.fromStore = todo.length - pending.length;
    await store.putTasks(batchId, pending);
    const jobs = await queue.enqueueRetryingFailed(
      JobName.TaskGenerate,
      pending.map((t) => ({
        v: 1 as const,
        batchId,
        taskId: t.id,
        kbVersion: manifest.version,
        samples: input.samples,
        kbDir: resolve(input.kbDir),
        style: input.style,
        temperature: input.temperature,
        guidanceCwes: input.guidance.cwes,
        guidanceTokens: input.guidance.tokens,
      })),
      input.retryFailed ?? true,
    );
    summary.newAttempts = jobs.filter((j) => j.attempt > 0).length;
    await Promise.all(
      jobs.map(async ({ jobId }, i) => {
        const task = pending[i];
        const fresh = await settledJob(queue.queue(QueueName.Generate), jobId, events, watch);
        // Settled means Redis answered the wait; this connection may still be reconnecting.
        const result = await whileRedisLinkDown(async () => ((await fresh.getState()) === 'completed' ? await store.result(batchId, task.id) : undefined), config.QUEUE_WAIT_TIMEOUT_MS);
        if (result) return record(result);
        const reason = fresh.failedReason ?? 'no result stored';
        const cls = /^(\w+):/.exec(reason)?.[1] ?? 'Error';
        summary.failed += 1;
        summary.failuresByClass[cls] = (summary.failuresByClass[cls] ?? 0) + 1;
        out.write(`${JSON.stringify({ id: task.id, error: { class: cls, message: reason.slice(0, 500) }, jobId })}\n`);
      }),
    );
  } finally {
    await new Promise<void>((r) => out.end(r));
    await watch.close();
    // Bounded: after Redis vanished, a close may never settle, and the outcome must still be told.
    await boundedClose([events.close(), queue.close()], 5000);
    link.stop();
    redis.disconnect();
    await stores.close();
  }
  summary.seconds = Math.round((performance.now() - started) / 100) / 10;
  return summary;
}
