import type { Job, Queue, QueueEvents } from 'bullmq';

/**
 * Waits until a job has completed or failed for good (after its retries) and returns it re-read,
 * so its state, return value and failure reason are current. A failure is not thrown: callers
 * inspect the job. `events` must listen on the job's queue and prefix.
 */
export async function settledJob(queue: Queue, jobId: string, events: QueueEvents, timeoutMs?: number): Promise<Job> {
  const job = await queue.getJob(jobId);
  if (!job) throw new Error(`job ${jobId} is not in the ${queue.name} queue`);
  await job.waitUntilFinished(events, timeoutMs).catch(() => undefined);
  return (await queue.getJob(jobId)) as Job;
}
