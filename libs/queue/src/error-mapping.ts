import { type Job, UnrecoverableError, Worker } from 'bullmq';
import { type RateLimitedError, classify } from '@rescue/domain';

/**
 * How a worker answers an upstream "slow down" (a 429 with or without `Retry-After`).
 *
 * The pause is queue-wide (every worker of the queue waits), so one hint must not stop a fleet for
 * long: it is capped at `capMs`, whatever the server asked. Rate-limited restarts spend no attempt
 * in BullMQ, so without a budget a steady 429 retries a job for ever; after `maxRetries` such
 * restarts the job fails for good, naming its class. A job therefore reaches a clear outcome within
 * about `maxRetries × capMs` of steady rate limiting.
 */
export interface RateLimitPolicy {
  /** Longest queue-wide pause one rate limit may impose (the server's hint is cut to it). */
  capMs: number;
  /** Pause when the server gives no hint (also capped). */
  defaultMs: number;
  /** Rate-limited restarts one job may take before it fails with RateLimitedError. */
  maxRetries: number;
}

export const DEFAULT_RATE_LIMIT_POLICY: RateLimitPolicy = { capMs: 60_000, defaultMs: 10_000, maxRetries: 20 };

// One worker app per process: its policy is set once from its configuration (QueueModule.forWorker),
// so the processors' calls need not carry it. Tests pass their own to runClassified.
let processPolicy: RateLimitPolicy = DEFAULT_RATE_LIMIT_POLICY;

/** Sets the rate-limit policy of this process's workers (from RATE_LIMIT_CAP_MS, RATE_LIMIT_RETRIES). */
export function setRateLimitPolicy(policy: Partial<RateLimitPolicy>): RateLimitPolicy {
  processPolicy = { ...DEFAULT_RATE_LIMIT_POLICY, ...policy };
  return processPolicy;
}

/** What the mapping needs to know of the running job: how often it was started, and failed. */
export type JobAttempts = Pick<Job, 'attemptsStarted' | 'attemptsMade'>;

/**
 * How many times this job was put back to wait by a rate limit so far. In BullMQ 6.7 every start
 * counts in `attemptsStarted` and only failures in `attemptsMade`, and a `RateLimitError` moves the
 * job back to wait without counting a failure; the current start is the `- 1`. A start lost to a
 * stalled worker counts too, which only makes the budget a little stricter.
 */
export function rateLimitedRestarts(job: JobAttempts): number {
  return Math.max(0, job.attemptsStarted - job.attemptsMade - 1);
}

/**
 * The one mapping from our errors onto BullMQ, by `classify()`: what is not retryable (invalid
 * input, unsupported, config, not found) fails at once with no retry; a rate limit pauses the whole
 * queue for the capped hint and does not use up an attempt, until the job's rate-limit budget is
 * spent, when it fails for good; anything else (transient, internal) is rethrown so attempts and
 * backoff apply. Never returns normally: a swallowed error would mark the job completed.
 *
 * Without a worker (a sandboxed processor, which has none) a rate limit is rethrown and retried
 * with backoff like a transient failure. Without the job, no budget can be counted: the pause is
 * still capped.
 */
export async function toBullmqFailure(err: unknown, worker?: Pick<Worker, 'rateLimit'>, job?: JobAttempts, policy: RateLimitPolicy = processPolicy): Promise<never> {
  const { kind, retryable, message } = classify(err);
  if (kind === 'rate-limited' && worker) {
    const restarts = job ? rateLimitedRestarts(job) : 0;
    if (restarts >= policy.maxRetries) {
      throw new UnrecoverableError(
        `${(err as Error).name}: ${message} (gave up after ${restarts} rate-limited retries, the budget RATE_LIMIT_RETRIES=${policy.maxRetries}; ` +
          'the upstream kept refusing: lower the concurrency or raise the quota, then run the work again)',
      );
    }
    const hint = (err as RateLimitedError).retryAfterMs;
    await worker.rateLimit(Math.min(hint ?? policy.defaultMs, policy.capMs));
    throw Worker.RateLimitError();
  }
  // The class name leads the message: it is all an operator sees in the job's failedReason.
  if (!retryable) throw new UnrecoverableError(`${(err as Error).name}: ${message}`);
  throw err;
}

/**
 * Runs a job body and routes any failure through `toBullmqFailure`. Pass the job so its rate-limit
 * budget can be counted.
 */
export async function runClassified<T>(worker: Pick<Worker, 'rateLimit'> | undefined, body: () => Promise<T>, job?: JobAttempts, policy?: RateLimitPolicy): Promise<T> {
  try {
    return await body();
  } catch (err) {
    return toBullmqFailure(err, worker, job, policy);
  }
}
