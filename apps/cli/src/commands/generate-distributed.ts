import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { resolve } from 'node:path';
import { QueueEvents } from 'bullmq';
import { loadConfig, redisEnv, storageEnv } from '@rescue/config';
import { JobName, QueueName } from '@rescue/contracts';
import type { CodingTask } from '@rescue/datasets';
import { type BatchSummary, resumeOutput } from '@rescue/generation';
import { KbDirectory } from '@rescue/knowledge';
import { openStores } from '@rescue/pipeline';
import { PipelineQueue, connectRedis, connectionOptions, settledJob } from '@rescue/queue';

export interface DistributedGenerateInput {
  tasks: CodingTask[];
  out: string;
  kbDir: string;
  samples: number;
  style: 'chat' | 'completion';
  temperature: number;
  guidance: { cwes: number; tokens: number };
}

/**
 * `rescue generate --distributed`: one queue job per task on the generator workers. The batch id
 * is derived from the tasks and settings, so after a crash the same command finds its jobs and
 * results again; tasks already in `--out` are not enqueued.
 */
export async function generateDistributed(input: DistributedGenerateInput): Promise<BatchSummary & { batchId: string }> {
  const started = performance.now();
  const config = loadConfig(redisEnv.extend(storageEnv.shape));
  const manifest = await new KbDirectory(input.kbDir).manifest();
  const batchId = `g${createHash('sha256').update(JSON.stringify([input.tasks, manifest.version, input.samples, input.style, input.temperature, input.guidance])).digest('hex').slice(0, 24)}`;
  const done = resumeOutput(input.out);
  const todo = input.tasks.filter((t) => !done.has(t.id));
  const redis = await connectRedis('producer', config.REDIS_URL);
  const stores = openStores(config);
  const store = stores.generation;
  const queue = new PipelineQueue(redis, config.QUEUE_PREFIX);
  const events = new QueueEvents(QueueName.Generate, { connection: connectionOptions('worker', config.REDIS_URL) as never, prefix: config.QUEUE_PREFIX });
  const out = createWriteStream(input.out, { flags: 'a' });
  const summary: BatchSummary & { batchId: string } = { batchId, tasks: input.tasks.length, resumed: input.tasks.length - todo.length, done: 0, failed: 0, failuresByClass: {}, samples: 0, tokens: { prompt: 0, completion: 0 }, seconds: 0 };
  try {
    await events.waitUntilReady();
    await store.putTasks(batchId, todo);
    const jobs = await queue.enqueueMany(
      JobName.TaskGenerate,
      todo.map((t) => ({ v: 1 as const, batchId, taskId: t.id, kbVersion: manifest.version, samples: input.samples, kbDir: resolve(input.kbDir), style: input.style, temperature: input.temperature, guidanceCwes: input.guidance.cwes, guidanceTokens: input.guidance.tokens })),
    );
    await Promise.all(
      jobs.map(async ({ jobId }, i) => {
        const task = todo[i];
        const fresh = await settledJob(queue.queue(QueueName.Generate), jobId, events);
        const result = (await fresh.getState()) === 'completed' ? await store.result(batchId, task.id) : undefined;
        if (result) {
          summary.done += 1;
          summary.samples += result.samples.length;
          summary.tokens.prompt += result.tokens.prompt;
          summary.tokens.completion += result.tokens.completion;
          out.write(`${JSON.stringify(result)}\n`);
        } else {
          const reason = fresh.failedReason ?? 'no result stored';
          const cls = /^(\w+):/.exec(reason)?.[1] ?? 'Error';
          summary.failed += 1;
          summary.failuresByClass[cls] = (summary.failuresByClass[cls] ?? 0) + 1;
          out.write(`${JSON.stringify({ id: task.id, error: { class: cls, message: reason.slice(0, 500) } })}\n`);
        }
      }),
    );
  } finally {
    await new Promise<void>((r) => out.end(r));
    await events.close();
    await queue.close();
    redis.disconnect();
    await stores.close();
  }
  summary.seconds = Math.round((performance.now() - started) / 100) / 10;
  return summary;
}
