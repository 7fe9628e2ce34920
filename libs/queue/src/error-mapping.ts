import { UnrecoverableError, Worker } from 'bullmq';
import { PayloadError } from '@rescue/contracts';
import { RateLimitedError, RescueError } from '@rescue/domain';

const DEFAULT_RATE_LIMIT_MS = 10_000;

/**
 * The one mapping from our errors onto BullMQ: bad input (and unsupported input) fails at once
 * with no retry; a rate limit pauses the whole queue and does not use up an attempt; anything
 * else is rethrown so attempts and backoff apply. Never returns normally: a swallowed error would
 * mark the job completed.
 */
export async function toBullmqFailure(err: unknown, worker?: Pick<Worker, 'rateLimit'>): Promise<never> {
  if (err instanceof PayloadError) throw new UnrecoverableError(err.message);
  if (err instanceof RateLimitedError) {
    if (worker) {
      await worker.rateLimit(err.retryAfterMs ?? DEFAULT_RATE_LIMIT_MS);
      throw Worker.RateLimitError();
    }
    throw err;
  }
  if (err instanceof RescueError && (err.kind === 'invalid-input' || err.kind === 'unsupported' || err.kind === 'config')) {
    throw new UnrecoverableError(`${err.name}: ${err.message}`);
  }
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
