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
 */
export function jobOptionsFor(name: JobName, payload: unknown, attempts = 5): JobsOptions {
  return {
    jobId: jobIdFor(name, payload),
    attempts,
    backoff: { type: 'exponential', delay: 1000 },
    ...RETENTION,
  };
}
