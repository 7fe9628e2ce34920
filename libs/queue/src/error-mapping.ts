import { UnrecoverableError, Worker } from 'bullmq';
import { type RateLimitedError, classify } from '@rescue/domain';

const DEFAULT_RATE_LIMIT_MS = 10_000;

/**
 * The one mapping from our errors onto BullMQ, by `classify()`: what is not retryable (invalid
 * input, unsupported, config, not found) fails at once with no retry; a rate limit pauses the whole
 * queue and does not use up an attempt; anything else (transient, internal) is rethrown so attempts
 * and backoff apply. Never returns normally: a swallowed error would mark the job completed.
 *
 * Without a worker (a sandboxed processor, which has none) a rate limit is rethrown and retried
 * with backoff like a transient failure.
 */
export async function toBullmqFailure(err: unknown, worker?: Pick<Worker, 'rateLimit'>): Promise<never> {
  const { kind, retryable, message } = classify(err);
  if (kind === 'rate-limited' && worker) {
    await worker.rateLimit((err as RateLimitedError).retryAfterMs ?? DEFAULT_RATE_LIMIT_MS);
    throw Worker.RateLimitError();
  }
  // The class name leads the message: it is all an operator sees in the job's failedReason.
  if (!retryable) throw new UnrecoverableError(`${(err as Error).name}: ${message}`);
  throw err;
}

/** Runs a job body and routes any failure through `toBullmqFailure`. */
export async function runClassified<T>(worker: Pick<Worker, 'rateLimit'> | undefined, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (err) {
    return toBullmqFailure(err, worker);
  }
}
