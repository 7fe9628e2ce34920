import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { JOB_QUEUE, type JobName, type JobPayloadInput, QueueName, parsePayload } from '@rescue/contracts';
import { jobOptionsFor } from './job-options';
import type { RedisLink } from './redis-link';

export interface EnqueuedJob {
  queue: QueueName;
  jobId: string;
}

/** A job enqueued with {@link PipelineQueue.enqueueRetryingFailed}: which try it is, and the failed tries before it. */
export interface RetriedJob extends EnqueuedJob {
  attempt: number;
  /** Ids of this work's earlier jobs that failed for good, oldest first (kept by BullMQ for people to read). */
  failedBefore: string[];
}

/**
 * The typed producer: the only way our code adds jobs. It validates the payload, resolves the
 * queue from the contracts, and derives the job id from the content, so adding the same work
 * twice while the first job exists is a no-op.
 */
export class PipelineQueue {
  private readonly queues = new Map<QueueName, Queue>();

  /** `connection` should be a producer connection (fails fast when Redis is down). */
  constructor(
    private readonly connection: Redis,
    private readonly prefix: string,
    private readonly attempts = 5,
  ) {}

  private link?: Pick<RedisLink, 'watch'>;

  queue(name: QueueName): Queue {
    let q = this.queues.get(name);
    if (!q) {
      q = new Queue(name, { connection: this.connection, prefix: this.prefix });
      this.link?.watch(q, `queue ${name}`);
      this.queues.set(name, q);
    }
    return q;
  }

  /**
   * Reports the errors of its queues, made so far and later, to `link`: a Redis outage is one
   * "lost" and one "back" line for the process. Without a listener, BullMQ prints each queue's
   * every failed reconnect as a raw stack.
   */
  reportTo(link: Pick<RedisLink, 'watch'>): this {
    this.link = link;
    for (const [name, q] of this.queues) link.watch(q, `queue ${name}`);
    return this;
  }

  async enqueue<N extends JobName>(name: N, data: JobPayloadInput<N>): Promise<EnqueuedJob> {
    const payload = parsePayload(name, data);
    const options = jobOptionsFor(name, payload, this.attempts);
    const queue = JOB_QUEUE[name];
    await this.queue(queue).add(name, payload, options);
    return { queue, jobId: options.jobId as string };
  }

  async enqueueMany<N extends JobName>(name: N, items: JobPayloadInput<N>[]): Promise<EnqueuedJob[]> {
    const queue = JOB_QUEUE[name];
    const jobs = items.map((data) => {
      const payload = parsePayload(name, data);
      return { name: name as string, data: payload, opts: jobOptionsFor(name, payload, this.attempts) };
    });
    await this.queue(queue).addBulk(jobs);
    return jobs.map((j) => ({ queue, jobId: j.opts.jobId as string }));
  }

  /**
   * Like {@link enqueueMany}, except that work whose job failed for good is enqueued again as a
   * new attempt under a new id (see `jobOptionsFor`), so re-running after fixing the cause does
   * the work instead of finding the old failure. Work whose job is waiting, running or completed
   * is left to that job. `retryFailed: false` keeps failed jobs as they are.
   */
  async enqueueRetryingFailed<N extends JobName>(name: N, items: JobPayloadInput<N>[], retryFailed = true, maxAttempts = 100): Promise<RetriedJob[]> {
    const queue = JOB_QUEUE[name];
    const q = this.queue(queue);
    const jobs: RetriedJob[] = [];
    const adds: Array<{ name: string; data: unknown; opts: ReturnType<typeof jobOptionsFor> }> = [];
    for (const data of items) {
      const payload = parsePayload(name, data);
      const failedBefore: string[] = [];
      let attempt = 0;
      let opts = jobOptionsFor(name, payload, this.attempts, attempt);
      while (retryFailed && attempt < maxAttempts) {
        const existing = await q.getJob(opts.jobId as string);
        if (!existing || (await existing.getState()) !== 'failed') break;
        failedBefore.push(opts.jobId as string);
        attempt += 1;
        opts = jobOptionsFor(name, payload, this.attempts, attempt);
      }
      adds.push({ name: name as string, data: payload, opts });
      jobs.push({ queue, jobId: opts.jobId as string, attempt, failedBefore });
    }
    // An id that exists already (a job waiting, running or done) makes its add a no-op.
    if (adds.length > 0) await q.addBulk(adds);
    return jobs;
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
    this.queues.clear();
  }
}
