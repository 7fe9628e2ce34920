import { RateLimitError, UnrecoverableError, type Worker } from 'bullmq';
import { JobName, PayloadError } from '@rescue/contracts';
import { ConfigError, InvalidInputError, NotFoundError, RateLimitedError, TransientUpstreamError, UnsupportedLanguageError } from '@rescue/domain';
import { type JobAttempts, type RateLimitPolicy, rateLimitedRestarts, toBullmqFailure } from '../src/error-mapping';

/** What toBullmqFailure threw (it never returns). */
async function mapped(err: unknown, worker?: Pick<Worker, 'rateLimit'>, job?: JobAttempts, policy?: RateLimitPolicy): Promise<unknown> {
  return toBullmqFailure(err, worker, job, policy).then(
    () => {
      throw new Error('toBullmqFailure returned normally');
    },
    (thrown: unknown) => thrown,
  );
}

describe('toBullmqFailure (no Redis)', () => {
  it.each([
    ['invalid input', new InvalidInputError('record 42 has no CWE')],
    ['a payload error', new PayloadError(JobName.KbIndex, ['buildId: too short'])],
    ['unsupported', new UnsupportedLanguageError('no grammar for cobol')],
    ['config', new ConfigError(['REDIS_URL=(unset): required'])],
    ['not found', new NotFoundError('job 7 is not in the index queue')],
  ])('fails %s for good, naming the class', async (_what, err) => {
    const thrown = await mapped(err);
    expect(thrown).toBeInstanceOf(UnrecoverableError);
    expect((thrown as Error).message).toBe(`${err.name}: ${err.message}`);
  });

  it.each([
    ['transient', new TransientUpstreamError('upstream 503')],
    ['internal', new TypeError('x is undefined')],
    ['a non-Error', 'thrown string'],
  ])('rethrows %s as is, so attempts and backoff apply', async (_what, err) => {
    expect(await mapped(err)).toBe(err);
  });

  it("pauses the worker for the upstream's hint on a rate limit, or a default without one", async () => {
    const rateLimit = jest.fn(async () => undefined);
    expect(await mapped(new RateLimitedError('429', 1500), { rateLimit })).toBeInstanceOf(RateLimitError);
    await mapped(new RateLimitedError('429'), { rateLimit });
    expect(rateLimit.mock.calls).toEqual([[1500], [10_000]]);
  });

  it('rethrows a rate limit where there is no worker to pause (a sandboxed processor)', async () => {
    const err = new RateLimitedError('429', 1500);
    expect(await mapped(err)).toBe(err);
  });
  const policy: RateLimitPolicy = { capMs: 5_000, defaultMs: 1_000, maxRetries: 3 };

  it('cuts a huge Retry-After to the cap, so one 429 cannot pause the fleet for an hour', async () => {
    const rateLimit = jest.fn(async () => undefined);
    expect(await mapped(new RateLimitedError('429', 3_600_000), { rateLimit }, { attemptsStarted: 1, attemptsMade: 0 }, policy)).toBeInstanceOf(RateLimitError);
    await mapped(new RateLimitedError('429'), { rateLimit }, { attemptsStarted: 1, attemptsMade: 0 }, policy);
    expect(rateLimit.mock.calls).toEqual([[5_000], [1_000]]);
  });

  it('counts rate-limited restarts as starts that were not failures', () => {
    expect(rateLimitedRestarts({ attemptsStarted: 1, attemptsMade: 0 })).toBe(0);
    expect(rateLimitedRestarts({ attemptsStarted: 5, attemptsMade: 1 })).toBe(3);
    expect(rateLimitedRestarts({ attemptsStarted: 0, attemptsMade: 0 })).toBe(0);
  });

  it('fails the job for good, naming its class and the budget, once its rate-limit budget is spent', async () => {
    const rateLimit = jest.fn(async () => undefined);
    // Three restarts already (the budget): the fourth 429 ends the job without pausing anyone.
    const thrown = await mapped(new RateLimitedError('LLM chat call was rate limited (429)', 3_600_000), { rateLimit }, { attemptsStarted: 4, attemptsMade: 0 }, policy);
    expect(thrown).toBeInstanceOf(UnrecoverableError);
    expect((thrown as Error).message).toMatch(/^RateLimitedError: LLM chat call was rate limited \(429\) \(gave up after 3 rate-limited retries, the budget RATE_LIMIT_RETRIES=3/);
    expect(rateLimit).not.toHaveBeenCalled();
    // One short of the budget still pauses and puts the job back.
    expect(await mapped(new RateLimitedError('429'), { rateLimit }, { attemptsStarted: 3, attemptsMade: 0 }, policy)).toBeInstanceOf(RateLimitError);
  });
});
