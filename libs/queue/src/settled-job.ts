import type { Job, Queue, QueueEvents } from 'bullmq';
import { NotFoundError } from '@rescue/domain';

/**
 * Waits until a job has completed or failed for good (after its retries) and returns it re-read,
 * so its state, return value and failure reason are current. A failure is not thrown: callers
 * inspect the job. `events` must listen on the job's queue and prefix.
 */
export async function settledJob(queue: Queue, jobId: string, events: QueueEvents, timeoutMs?: number): Promise<Job> {
  const job = await queue.getJob(jobId);
  if (!job) throw new NotFoundError(`job ${jobId} is not in the ${queue.name} queue`);
  await job.waitUntilFinished(events, timeoutMs).catch(() => undefined);
  return (await queue.getJob(jobId)) as Job;
}

/**
 * Why a job failed, following a flow's failed children down to the job that failed first: a
 * parent failed by BullMQ's `failParentOnFailure` only says "child <prefix>:<queue>:<id> failed",
 * which tells an operator nothing. `jobOf` reads a job of a queue (of the same prefix).
 */
export async function rootFailure(job: Job, jobOf: (queueName: string, jobId: string) => Promise<Job | undefined>, depth = 5): Promise<string> {
  const reason = job.failedReason ?? 'unknown reason';
  const child = /child [^:\s]+:([^:\s]+):(\S+) failed/.exec(reason);
  if (!child || depth === 0) return reason;
  const failed = await jobOf(child[1], child[2]);
  if (!failed?.failedReason) return reason;
  return `${failed.name} ${failed.id}: ${await rootFailure(failed, jobOf, depth - 1)}`;
}
