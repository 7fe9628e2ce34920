import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { QUEUE_CONSUMER, type QueueName } from '@rescue/contracts';
import { NotFoundError, RescueError, TransientUpstreamError } from '@rescue/domain';

export interface QueueWatchOptions {
  /**
   * How long a watched queue may have no worker, or Redis stay unreachable, before the wait fails
   * saying so (QUEUE_WAIT_TIMEOUT_MS).
   */
  timeoutMs: number;
  /** Between checks; defaults to a quarter of the timeout, at most one second. */
  intervalMs?: number;
}

/** The job's key fields a check reads: settled jobs carry `finishedOn` (a retried one does not yet). */
const FINISHED = 'finishedOn';

/**
 * Watches the jobs a producer waits for, so a wait never hangs silently. Every `intervalMs` it
 * checks, with a few Redis round trips whatever the number of jobs:
 * - that Redis still holds its data: a sentinel key written at `start()` is still there (a Redis
 *   restarted without persistence, or flushed, loses it together with every job);
 * - that each job it waits for still exists (removed, or its key evicted);
 * - that some worker consumes the job's queue and the queues its flow children wait in (BullMQ
 *   names worker connections; `getWorkersCount()` reads them), for no longer than `timeoutMs`;
 * - that Redis answers at all, for no longer than `timeoutMs` (a restart with AOF is ridden out);
 * - whether a job settled, in case its completion event was missed (Redis restarted meanwhile).
 * The first problem fails every pending wait with a classified error that says what to do.
 */
export class QueueWatch {
  private readonly pending = new Map<string, { resolve: () => void; reject: (err: Error) => void }>();
  private readonly queues = new Map<string, Queue>();
  private readonly sentinel: string;
  private readonly started = Date.now();
  private readonly workersSeen = new Map<string, number>();
  private lastReachable = Date.now();
  private timer?: NodeJS.Timeout;
  private checking = false;
  private failure?: Error;

  constructor(
    private readonly queue: Queue,
    private readonly redis: Redis,
    private readonly options: QueueWatchOptions,
  ) {
    this.sentinel = `${queue.opts.prefix ?? 'bull'}:watch:${randomUUID()}`;
  }

  /** How long Redis may stay unreachable, or the queue without a worker, before the wait fails. */
  get timeoutMs(): number {
    return this.options.timeoutMs;
  }

  /** Writes the sentinel (expiring long after any sane wait) and starts checking. */
  async start(): Promise<this> {
    await this.redis.set(this.sentinel, String(Date.now()), 'PX', Math.max(24 * 3600 * 1000, this.options.timeoutMs * 10));
    const interval = this.options.intervalMs ?? Math.min(1000, Math.max(50, Math.floor(this.options.timeoutMs / 4)));
    this.timer = setInterval(() => void this.check(), interval);
    return this;
  }

  /** Resolves when the job settled (completed, or failed after its retries); rejects on a watched problem. */
  settled(jobId: string): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<void>((resolve, reject) => this.pending.set(jobId, { resolve, reject }));
  }

  /** Forgets a job whose outcome the caller learnt another way (its completion event). */
  forget(jobId: string): void {
    this.pending.get(jobId)?.resolve();
    this.pending.delete(jobId);
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    const queues = [...this.queues.values()];
    this.queues.clear();
    // Bounded: closing must not hang on a Redis that is gone (the reason the watch may have failed).
    await boundedClose([...queues.map((q) => q.close()), this.redis.del(this.sentinel).then(() => undefined)], this.options.timeoutMs);
  }

  private fail(err: Error): void {
    this.failure = err;
    if (this.timer) clearInterval(this.timer);
    for (const waiter of this.pending.values()) waiter.reject(err);
    this.pending.clear();
  }

  private where(): string {
    return `queue ${this.queue.name} (prefix ${this.queue.opts.prefix ?? 'bull'})`;
  }

  private async check(): Promise<void> {
    if (this.checking || this.failure || this.pending.size === 0) return;
    this.checking = true;
    let timer: NodeJS.Timeout | undefined;
    try {
      // A command in flight when the connection dropped may never settle; a check that does not
      // end within the timeout counts as Redis not answering, and the next check starts afresh.
      const stuck = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new TransientUpstreamError(`no answer within ${this.options.timeoutMs} ms`)), this.options.timeoutMs);
      });
      await Promise.race([this.checkOnce(), stuck]);
      this.lastReachable = Date.now();
    } catch (err) {
      if (err instanceof RescueError) this.fail(err);
      else if (Date.now() - this.lastReachable > this.options.timeoutMs) {
        this.fail(
          new TransientUpstreamError(
            `Redis has not answered for ${Math.round((Date.now() - this.lastReachable) / 1000)} s while waiting on ${this.where()}: ${(err as Error).message}. Bring Redis back (QUEUE_WAIT_TIMEOUT_MS sets this wait), then run the same command again: finished work is kept.`,
          ),
        );
      }
    } finally {
      clearTimeout(timer);
      this.checking = false;
    }
  }

  private async checkOnce(): Promise<void> {
    if ((await this.redis.exists(this.sentinel)) === 0) {
      throw new TransientUpstreamError(
        `Redis lost its data while waiting on ${this.where()} (a key written at the start of this run is gone): it restarted without persistence, was flushed, or evicted keys. ` +
          'Run Redis with appendonly yes and maxmemory-policy noeviction, then run the same command again: results already written are kept, the rest are redone.',
      );
    }
    const ids = [...this.pending.keys()];
    // One pipelined round trip however many jobs are waited on.
    const batch = this.redis.pipeline();
    for (const id of ids) batch.hmget(`${this.keyPrefix(this.queue.name)}${id}`, 'name', FINISHED);
    const fields = ((await batch.exec()) ?? []).map(([err, value]) => {
      if (err) throw err;
      return value as Array<string | null>;
    });
    const missing = ids.filter((_, i) => fields[i][0] === null);
    if (missing.length > 0) {
      throw new NotFoundError(
        `${missing.length} job(s) vanished from ${this.where()} (first: ${missing[0]}) while Redis kept its data: someone removed them or obliterated the queue. Run the same command again to enqueue them anew.`,
      );
    }
    ids.forEach((id, i) => {
      if (fields[i][1] !== null) this.forget(id);
    });
    await this.checkWorkers(ids.filter((_, i) => fields[i][1] === null));
  }

  private keyPrefix(queueName: string): string {
    return `${this.queue.opts.prefix ?? 'bull'}:${queueName}:`;
  }

  /** The queue itself, plus the queues holding a flow's unfinished children (a few levels down). */
  private async neededQueues(ids: string[]): Promise<Set<string>> {
    const needed = new Set<string>([this.queue.name]);
    let frontier: Array<{ queue: string; id: string }> = ids.slice(0, 3).map((id) => ({ queue: this.queue.name, id }));
    for (let depth = 0; depth < 4 && frontier.length > 0; depth += 1) {
      const next: Array<{ queue: string; id: string }> = [];
      for (const { queue, id } of frontier) {
        // BullMQ keeps a parent's unfinished children in `<job key>:dependencies` as full job keys.
        const [, children] = await this.redis.sscan(`${this.keyPrefix(queue)}${id}:dependencies`, '0', 'COUNT', 50);
        const byQueue = new Map<string, string>();
        for (const key of children) {
          const m = /^[^:]+:([^:]+):(.+)$/.exec(key);
          if (m && !byQueue.has(m[1])) byQueue.set(m[1], m[2]);
        }
        for (const [q, child] of byQueue) {
          needed.add(q);
          next.push({ queue: q, id: child });
        }
      }
      frontier = next.slice(0, 3);
    }
    return needed;
  }

  private async checkWorkers(unsettled: string[]): Promise<void> {
    if (unsettled.length === 0) return;
    const now = Date.now();
    for (const name of await this.neededQueues(unsettled)) {
      const count = await this.queueOf(name).getWorkersCount();
      if (count > 0) this.workersSeen.set(name, now);
      const since = this.workersSeen.get(name) ?? this.started;
      if (count === 0 && now - since > this.options.timeoutMs) {
        const app = (QUEUE_CONSUMER as Record<string, string | undefined>)[name];
        throw new TransientUpstreamError(
          `no worker has consumed queue ${name} (prefix ${this.queue.opts.prefix ?? 'bull'}) for ${Math.round((now - since) / 1000)} s: ` +
            `start ${app ? `the ${app} worker (npm run start:${app})` : 'its worker'} with the same REDIS_URL and QUEUE_PREFIX, then run the same command again (the queued jobs wait for it; QUEUE_WAIT_TIMEOUT_MS sets this wait).`,
        );
      }
    }
  }

  private queueOf(name: string): Queue {
    if (name === this.queue.name) return this.queue;
    let q = this.queues.get(name);
    if (!q) {
      q = new Queue(name as QueueName, { connection: this.redis, prefix: this.queue.opts.prefix });
      // Its connection is the watched queue's: its errors are told where that queue's are.
      q.on('error', (err) => this.queue.emit('error', err));
      this.queues.set(name, q);
    }
    return q;
  }
}

/**
 * Waits for closing work at most `ms`, ignoring its failures: a client closing while Redis is
 * down may never settle, and the caller's outcome (often that very outage) must still be told.
 */
export async function boundedClose(closing: Array<Promise<unknown>>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((r) => {
    timer = setTimeout(r, ms);
  });
  await Promise.race([Promise.allSettled(closing), timeout]);
  clearTimeout(timer);
}
