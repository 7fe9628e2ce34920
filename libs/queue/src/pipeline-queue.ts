import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { JOB_QUEUE, type JobName, type JobPayloadInput, QueueName, parsePayload } from '@rescue/contracts';
import { jobOptionsFor } from './job-options';

export interface EnqueuedJob {
  queue: QueueName;
  jobId: string;
}

/**
 * The typed producer: the only way our code adds jobs. It validates the payload, resolves the
 * queue from the contracts, and derives the job id from the content, so adding the same work
 * twice while the first job exists is a no-op.
 */
export class PipelineQueue {
  private readonly queues = new Map<QueueName, Queue>();

  /** `connection` should be a producer connection (fails fast when Redis is down). */
  constructor(private readonly connection: Redis, private readonly prefix: string, private readonly attempts = 5) {}

  queue(name: QueueName): Queue {
    let q = this.queues.get(name);
    if (!q) {
      q = new Queue(name, { connection: this.connection, prefix: this.prefix });
      this.queues.set(name, q);
    }
    return q;
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

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
    this.queues.clear();
  }
}
