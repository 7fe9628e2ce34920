import type { JobsOptions } from 'bullmq';
import { type JobName, jobIdFor } from '@rescue/contracts';

/** Completed jobs are trimmed (an hour, at most 1,000); failed ones are kept a week for people. */
export const RETENTION = {
  removeOnComplete: { age: 3600, count: 1000 },
  removeOnFail: { age: 7 * 24 * 3600 },
} as const;

/**
 * The options every job gets: a deterministic id from its payload, retries with exponential
 * backoff (BullMQ retries nothing unless `attempts` is set), and the retention above.
 *
 * `attempt` > 0 names a new try of work whose earlier job failed for good: a failed job keeps its
 * id for the retention time (for people to read), so the same id would only find it again. The id
 * stays deterministic, so a crashed re-run finds the same attempt.
 */
export function jobOptionsFor(name: JobName, payload: unknown, attempts = 5, attempt = 0): JobsOptions {
  return {
    jobId: attempt === 0 ? jobIdFor(name, payload) : jobIdFor(name, { attempt, payload }),
    attempts,
    backoff: { type: 'exponential', delay: 1000 },
    ...RETENTION,
  };
}
