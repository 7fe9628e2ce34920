import { RateLimitError, UnrecoverableError, type Worker } from 'bullmq';
import { JobName, PayloadError } from '@rescue/contracts';
import { ConfigError, InvalidInputError, NotFoundError, RateLimitedError, TransientUpstreamError, UnsupportedLanguageError } from '@rescue/domain';
import { toBullmqFailure } from '../src/error-mapping';

/** What toBullmqFailure threw (it never returns). */
async function mapped(err: unknown, worker?: Pick<Worker, 'rateLimit'>): Promise<unknown> {
  return toBullmqFailure(err, worker).then(
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
});
