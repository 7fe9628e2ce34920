import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import pMap from 'p-map';
import { type GenerationBatchSettingsValue, JobName, type JobPayloadInput, QueueName, parsePayload } from '@rescue/contracts';
import type { CodingTask } from '@rescue/datasets';
import { sha256Hex, ConflictError, InvalidInputError, NotFoundError } from '@rescue/domain';
import type { GenerationResult, GenerationStore } from '@rescue/generation';
import { type PipelineQueue, type RetriedJob, jobOptionsFor } from '@rescue/queue';
import { unconsumedQueueWarnings } from './worker-presence';

// A generation batch submitted over the job API: the manifest (settings, task ids in order) lives
// in Redis beside the queue, the tasks and results in the generation store the generator workers
// share, and each task is one TaskGenerate job with a deterministic id. A re-attempt of a failed
// task is a new job under the next attempt's id (PipelineQueue.enqueueRetryingFailed, as the CLI's
// re-run does), so the failed job stays readable; the batch remembers each task's attempt. Redis
// is not trusted to have kept every job (reliability.md §0.5): whenever a task is looked at and has
// neither a job nor a result, it is enqueued again, which the job id makes idempotent.

export type TaskOutcome = 'done' | 'failed' | 'cancelled';
export type TaskState = TaskOutcome | 'pending';

interface BatchMeta {
  id: string;
  createdAt: string;
  kbDir: string;
  kbVersion: string;
  settings: Omit<GenerationBatchSettingsValue, 'webhookUrl'>;
  webhookUrl?: string;
  total: number;
  /** Tasks the submit refused (bad fields, repeated ids), by their place in the body. */
  rejected: number;
  state: 'open' | 'cancelled';
  /** 1 at submit, +1 for each re-attempt of the failed tasks: a completion webhook is sent once per round. */
  round: number;
}

interface Settled {
  state: TaskOutcome;
  error?: { class: string; message: string };
}

export interface BatchCounts {
  total: number;
  pending: number;
  active: number;
  done: number;
  failed: number;
  cancelled: number;
}

export interface BatchStatus {
  id: string;
  /** `running` while any task is pending; `completed` once every task is done, failed or cancelled; `cancelled` once cancelled and nothing runs. */
  status: 'running' | 'completed' | 'cancelled';
  createdAt: string;
  kbVersion: string;
  round: number;
  counts: BatchCounts;
  rejected: number;
  failuresByClass: Record<string, number>;
  /** Present while tasks wait in a queue no worker consumes, saying which app to start. */
  warnings?: string[];
}

export type BatchResultItem =
  { id: string; status: 'done'; result: GenerationResult } | { id: string; status: 'failed'; error: { class: string; message: string } } | { id: string; status: 'pending' | 'cancelled' };

export interface SubmitInput {
  tasks: CodingTask[];
  rejected: number;
  settings: GenerationBatchSettingsValue;
  kbDir: string;
  kbVersion: string;
  /** The caller's key and a digest of the request body: a retried submit finds its batch again. */
  idempotency?: { key: string; caller: string; bodyHash: string };
}

/** An idempotency record whose batch never appeared (the submitting process died) is given up after this. */
const ABANDONED_SUBMIT_MS = 60_000;
const IDEMPOTENCY_TTL_S = 7 * 24 * 3600;
const LOOKUPS_IN_FLIGHT = 32;
/** Tasks the watcher looks up per step when it checks whether a batch has settled. */
const SETTLE_SLICE = 500;

/** The class an error's failedReason starts with (`toBullmqFailure` puts it there), else `Error`. */
const errorClassOf = (reason: string): string => /^(\w+):/.exec(reason)?.[1] ?? 'Error';

/**
 * Generation batches as the job API serves them: submit (idempotent by key), status with counts,
 * results in submit order, re-attempting the failed tasks, cancelling the pending ones.
 */
export class GenerationBatches {
  constructor(
    private readonly redis: Redis,
    private readonly queue: PipelineQueue,
    private readonly store: GenerationStore,
    private readonly prefix: string,
  ) {}

  private key(...parts: string[]): string {
    return [this.prefix, 'jobapi', ...parts].join(':');
  }

  private async meta(id: string): Promise<BatchMeta> {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) throw new NotFoundError(`no generation batch ${JSON.stringify(id.slice(0, 70))}`);
    const text = await this.redis.get(this.key('batch', id, 'meta'));
    if (text === null) throw new NotFoundError(`no generation batch ${id} (batches are kept as long as Redis keeps them)`);
    return JSON.parse(text) as BatchMeta;
  }

  private payload(meta: BatchMeta, taskId: string): JobPayloadInput<JobName.TaskGenerate> {
    return { v: 1, batchId: meta.id, taskId, kbVersion: meta.kbVersion, kbDir: meta.kbDir, ...meta.settings };
  }

  /** The id of a task's job at an attempt (0: the first), as PipelineQueue derives it. */
  private jobId(meta: BatchMeta, taskId: string, attempt: number): string {
    return jobOptionsFor(JobName.TaskGenerate, parsePayload(JobName.TaskGenerate, this.payload(meta, taskId)), undefined, attempt).jobId as string;
  }

  /** Enqueues tasks, each under its first attempt not failed yet, and remembers each one's attempt. */
  private async enqueue(meta: BatchMeta, taskIds: string[]): Promise<RetriedJob[]> {
    const jobs = await this.queue.enqueueRetryingFailed(
      JobName.TaskGenerate,
      taskIds.map((t) => this.payload(meta, t)),
    );
    // Every attempt is recorded, 0 too: a task re-enqueued after its jobs were trimmed starts over at 0.
    if (jobs.length > 0) await this.redis.hset(this.key('batch', meta.id, 'attempts'), Object.fromEntries(jobs.map((j, i) => [taskIds[i], String(j.attempt)])));
    return jobs;
  }

  /**
   * Stores the tasks and enqueues one job per task. With an idempotency key, a second submit with
   * the same key and body returns the first batch and enqueues nothing (`replayed`); the same key
   * with another body, or while the first submit is still being handled, is a ConflictError.
   */
  async submit(input: SubmitInput): Promise<{ batch: BatchStatus; replayed: boolean }> {
    let id = `g${Date.now().toString(36)}${randomBytes(6).toString('hex')}`;
    if (input.idempotency) {
      const { key, caller, bodyHash } = input.idempotency;
      // Scoped by caller, so two clients that pick the same key never see each other's batch.
      const scoped = sha256Hex(`${caller}\0${key}`);
      id = `g${scoped.slice(0, 24)}`;
      const idemKey = this.key('idem', scoped);
      const record = JSON.stringify({ bodyHash, batchId: id, at: Date.now() });
      const claimed = await this.redis.set(idemKey, record, 'EX', IDEMPOTENCY_TTL_S, 'NX');
      if (claimed === null) {
        const earlier = JSON.parse((await this.redis.get(idemKey)) ?? record) as { bodyHash: string; batchId: string; at: number };
        if (earlier.bodyHash !== bodyHash) throw new ConflictError('this Idempotency-Key was already used for a different request body: send a new key for a new batch');
        const exists = (await this.redis.exists(this.key('batch', earlier.batchId, 'meta'))) === 1;
        if (exists) return { batch: await this.status(earlier.batchId), replayed: true };
        if (Date.now() - earlier.at < ABANDONED_SUBMIT_MS) throw new ConflictError('a request with this Idempotency-Key is still being handled: retry in a few seconds');
        // The first submit died before writing its batch: this one takes the key over.
        await this.redis.set(idemKey, record, 'EX', IDEMPOTENCY_TTL_S);
      }
    }
    const { webhookUrl, ...settings } = input.settings;
    const meta: BatchMeta = {
      id,
      createdAt: new Date().toISOString(),
      kbDir: input.kbDir,
      kbVersion: input.kbVersion,
      settings,
      webhookUrl,
      total: input.tasks.length,
      rejected: input.rejected,
      state: 'open',
      round: 1,
    };
    // Tasks first (a job must find its task), then the manifest, then the jobs: a crash between
    // the last two leaves tasks without jobs, which the next look at the batch enqueues.
    await this.store.putTasks(id, input.tasks);
    const ids = input.tasks.map((t) => t.id);
    const tx = this.redis.multi().del(this.key('batch', id, 'tasks'));
    for (let i = 0; i < ids.length; i += 1000) tx.rpush(this.key('batch', id, 'tasks'), ...ids.slice(i, i + 1000));
    await tx
      .set(this.key('batch', id, 'meta'), JSON.stringify(meta))
      .sadd(this.key('batches', 'open'), id)
      .exec();
    await this.queue.enqueueMany(
      JobName.TaskGenerate,
      ids.map((t) => this.payload(meta, t)),
    );
    return { batch: await this.status(id), replayed: false };
  }

  private async taskIds(id: string, start = 0, stop = -1): Promise<string[]> {
    return this.redis.lrange(this.key('batch', id, 'tasks'), start, stop);
  }

  /**
   * Where each task stands: settled outcomes are remembered (completed jobs are trimmed from the
   * queue after an hour), the rest are read from their jobs; a task with neither a job nor a
   * result is enqueued again, unless the batch was cancelled.
   */
  private async states(meta: BatchMeta, ids: string[]): Promise<Map<string, { state: TaskState; active?: boolean; error?: Settled['error'] }>> {
    const out = new Map<string, { state: TaskState; active?: boolean; error?: Settled['error'] }>();
    if (ids.length === 0) return out;
    const settledKey = this.key('batch', meta.id, 'settled');
    const [known, attempts] = await Promise.all([this.redis.hmget(settledKey, ...ids), this.redis.hmget(this.key('batch', meta.id, 'attempts'), ...ids)]);
    const queue = this.queue.queue(QueueName.Generate);
    // Keyed by task id, the user's: null-prototype, so `__proto__` is a key like any other.
    const newlySettled: Record<string, string> = Object.create(null) as Record<string, string>;
    const lost: string[] = [];
    await pMap(
      ids.map((taskId, i) => ({ taskId, known: known[i], attempt: Number(attempts[i] ?? 0) })),
      async ({ taskId, known: k, attempt }) => {
        if (k !== null) {
          const s = JSON.parse(k) as Settled;
          out.set(taskId, s);
          return;
        }
        const jobId = this.jobId(meta, taskId, attempt);
        const state = await queue.getJobState(jobId);
        let settled: Settled | undefined;
        if (state === 'completed') {
          settled = (await this.store.result(meta.id, taskId))
            ? { state: 'done' }
            : {
                state: 'failed',
                error: {
                  class: 'NotFoundError',
                  message: 'the job completed but its result is not in the generation store: the API and the generator workers must share RECORD_STORE (and RESCUE_DATA_DIR for fs)',
                },
              };
        } else if (state === 'failed') {
          const reason = (await queue.getJob(jobId))?.failedReason ?? 'failed (reason not kept)';
          settled = { state: 'failed', error: { class: errorClassOf(reason), message: reason.slice(0, 500) } };
        } else if (state === 'unknown') {
          if (await this.store.result(meta.id, taskId)) settled = { state: 'done' };
          else if (meta.state === 'cancelled') settled = { state: 'cancelled' };
          else lost.push(taskId);
        }
        if (settled) {
          newlySettled[taskId] = JSON.stringify(settled);
          out.set(taskId, settled);
        } else out.set(taskId, { state: 'pending', active: state === 'active' });
      },
      { concurrency: LOOKUPS_IN_FLIGHT },
    );
    if (Object.keys(newlySettled).length > 0) await this.redis.hset(settledKey, newlySettled);
    if (lost.length > 0) await this.enqueue(meta, lost);
    return out;
  }

  async status(id: string): Promise<BatchStatus> {
    const meta = await this.meta(id);
    const states = await this.states(meta, await this.taskIds(id));
    const counts: BatchCounts = { total: meta.total, pending: 0, active: 0, done: 0, failed: 0, cancelled: 0 };
    const failuresByClass: Record<string, number> = {};
    for (const s of states.values()) {
      if (s.state === 'pending') {
        if (s.active) counts.active += 1;
        else counts.pending += 1;
      } else counts[s.state] += 1;
      if (s.state === 'failed' && s.error) failuresByClass[s.error.class] = (failuresByClass[s.error.class] ?? 0) + 1;
    }
    const running = counts.pending + counts.active > 0;
    const status = running ? 'running' : meta.state === 'cancelled' ? 'cancelled' : 'completed';
    const warnings = counts.pending > 0 ? await unconsumedQueueWarnings(this.queue, [QueueName.Generate]) : [];
    return { id, status, createdAt: meta.createdAt, kbVersion: meta.kbVersion, round: meta.round, counts, rejected: meta.rejected, failuresByClass, ...(warnings.length ? { warnings } : {}) };
  }

  /**
   * One page of results in submit order: `cursor` is where the previous page ended (opaque to
   * callers), `nextCursor` is absent on the last page.
   */
  async results(id: string, cursor: string | undefined, limit: number): Promise<{ items: BatchResultItem[]; nextCursor?: string }> {
    const meta = await this.meta(id);
    const start = cursor === undefined ? 0 : decodeCursor(cursor);
    const ids = await this.taskIds(id, start, start + limit - 1);
    const states = await this.states(meta, ids);
    const items = await pMap(
      ids,
      async (taskId): Promise<BatchResultItem> => {
        const s = states.get(taskId);
        if (s?.state === 'done') {
          const result = await this.store.result(id, taskId);
          if (result) return { id: taskId, status: 'done', result };
        }
        if (s?.state === 'failed') return { id: taskId, status: 'failed', error: s.error ?? { class: 'Error', message: 'failed' } };
        return { id: taskId, status: s?.state === 'cancelled' ? 'cancelled' : 'pending' };
      },
      { concurrency: LOOKUPS_IN_FLIGHT },
    );
    const next = start + ids.length;
    return { items, nextCursor: ids.length === limit && next < meta.total ? encodeCursor(next) : undefined };
  }

  /**
   * Runs the failed tasks again (as they are: a fix on the model's side, a raised limit, a
   * transient outage that outlasted the job's attempts), each as a new job, and opens a new round,
   * whose completion is reported again. Done and cancelled tasks are left alone.
   */
  async retryFailed(id: string): Promise<{ retried: number; round: number }> {
    const meta = await this.meta(id);
    if (meta.state === 'cancelled') throw new ConflictError(`batch ${id} was cancelled: submit its tasks as a new batch`);
    const states = await this.states(meta, await this.taskIds(id));
    const failed = [...states].filter(([, s]) => s.state === 'failed').map(([taskId]) => taskId);
    // Each failed task gets a new job under its next attempt's id; the failed job is kept (a week) for people to read.
    if (failed.length > 0) await this.enqueue(meta, failed);
    if (failed.length > 0) await this.redis.hdel(this.key('batch', id, 'settled'), ...failed);
    meta.round += 1;
    await this.redis
      .multi()
      .set(this.key('batch', id, 'meta'), JSON.stringify(meta))
      .sadd(this.key('batches', 'open'), id)
      .exec();
    return { retried: failed.length, round: meta.round };
  }

  /** Removes the tasks still waiting; those already running finish. The batch then reads `cancelled`. */
  async cancel(id: string): Promise<BatchStatus> {
    const meta = await this.meta(id);
    if (meta.state !== 'cancelled') {
      meta.state = 'cancelled';
      // Recorded first, so no look at the batch re-enqueues a task removed below.
      await this.redis.set(this.key('batch', id, 'meta'), JSON.stringify(meta));
    }
    const states = await this.states(meta, await this.taskIds(id));
    const queue = this.queue.queue(QueueName.Generate);
    const cancelled: Record<string, string> = Object.create(null) as Record<string, string>;
    const attempts = await this.redis.hgetall(this.key('batch', id, 'attempts'));
    for (const [taskId, s] of states) {
      if (s.state !== 'pending' || s.active) continue;
      const job = await queue.getJob(this.jobId(meta, taskId, Number((Object.hasOwn(attempts, taskId) ? attempts[taskId] : undefined) ?? 0)));
      if (!job) {
        cancelled[taskId] = JSON.stringify({ state: 'cancelled' });
        continue;
      }
      try {
        await job.remove();
        cancelled[taskId] = JSON.stringify({ state: 'cancelled' });
      } catch (err) {
        // A worker took the job between the two reads: it is running now and will settle on its own.
        const now = await job.getState();
        if (now !== 'active' && now !== 'completed' && now !== 'failed') throw err;
      }
    }
    if (Object.keys(cancelled).length > 0) await this.redis.hset(this.key('batch', id, 'settled'), cancelled);
    return this.status(id);
  }

  /**
   * Whether every task has settled, looked up in submit order a slice at a time and stopping at
   * the first slice with a task still pending: the watcher asks every second, and a large batch
   * that is running should cost it a few hundred lookups, not one per task.
   */
  private async allSettled(meta: BatchMeta): Promise<boolean> {
    const settled = new Set(await this.redis.hkeys(this.key('batch', meta.id, 'settled')));
    const open = (await this.taskIds(meta.id)).filter((t) => !settled.has(t));
    for (let i = 0; i < open.length; i += SETTLE_SLICE) {
      const states = await this.states(meta, open.slice(i, i + SETTLE_SLICE));
      if ([...states.values()].some((s) => s.state === 'pending')) return false;
    }
    return true;
  }

  /**
   * For the API's watcher: the open batches that have settled since last asked, each reported once
   * (whichever API process removes it from the open set reports it) with its webhook URL.
   */
  async settledSinceLastAsked(): Promise<{ batch: BatchStatus; webhookUrl?: string }[]> {
    const out: { batch: BatchStatus; webhookUrl?: string }[] = [];
    for (const id of await this.redis.smembers(this.key('batches', 'open'))) {
      let meta: BatchMeta;
      try {
        meta = await this.meta(id);
      } catch (err) {
        // The batch's keys are gone (expired or deleted): nothing to report.
        if (!(err instanceof NotFoundError)) throw err;
        await this.redis.srem(this.key('batches', 'open'), id);
        continue;
      }
      if (!(await this.allSettled(meta))) continue;
      const batch = await this.status(id);
      if (batch.status === 'running') continue;
      if ((await this.redis.srem(this.key('batches', 'open'), id)) === 1) out.push({ batch, webhookUrl: meta.webhookUrl });
    }
    return out;
  }
}

function encodeCursor(index: number): string {
  return Buffer.from(`i:${index}`).toString('base64url');
}

function decodeCursor(cursor: string): number {
  const m = /^i:(\d{1,9})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!m) throw new InvalidInputError(`cursor: not a cursor of this listing: ${JSON.stringify(cursor.slice(0, 40))} (pass the nextCursor of the previous page)`);
  return Number(m[1]);
}
