import { ConfigError, InvalidInputError, NotFoundError, RateLimitedError, RescueError, TransientUpstreamError, UnsupportedLanguageError, classify } from '../src/errors';

describe('classify', () => {
  it.each([
    ['invalid-input', new InvalidInputError('record 42 has no CWE'), false, 400],
    ['unsupported', new UnsupportedLanguageError('no grammar for cobol'), false, 422],
    ['not-found', new NotFoundError('KB version kb-0 is not in /kb'), false, 404],
    ['config', new ConfigError(['REDIS_URL=(unset): required']), false, 503],
    ['rate-limited', new RateLimitedError('slow down', 2000), true, 429],
    ['transient', new TransientUpstreamError('upstream 503'), true, 503],
  ] as const)('maps %s', (kind, err, retryable, httpStatus) => {
    expect(classify(err)).toEqual({ kind, retryable, exitCode: 1, httpStatus, message: err.message });
  });

  it('calls anything outside the family internal: retried by a queue, exit 1, HTTP 500', () => {
    expect(classify(new TypeError('x is undefined'))).toEqual({ kind: 'internal', retryable: true, exitCode: 1, httpStatus: 500, message: 'x is undefined' });
    // A plain Error named like one of ours is still not one of ours.
    const lookalike = Object.assign(new Error('no'), { name: 'InvalidInputError', kind: 'invalid-input' });
    expect(classify(lookalike).kind).toBe('internal');
  });

  it('gives a message for any thrown value', () => {
    expect(classify('plain string').message).toBe('plain string');
    expect(classify(undefined).message).toBe('undefined');
    expect(classify(42)).toMatchObject({ kind: 'internal', message: '42' });
    expect(classify({ message: 'an error-like object' }).message).toBe('an error-like object');
    expect(classify(Object.create(null)).message).toBe('[object Object]');
  });

  it('follows subclasses by kind, so a library error classifies as its base does', () => {
    class LibraryRefusal extends InvalidInputError {}
    const err = new LibraryRefusal('refused');
    expect(err).toBeInstanceOf(RescueError);
    expect(err.name).toBe('LibraryRefusal');
    expect(classify(err)).toMatchObject({ kind: 'invalid-input', retryable: false, httpStatus: 400 });
  });

  it('keeps ConfigError problems and message', () => {
    const err = new ConfigError(['A=1: bad', 'B=(unset): required']);
    expect(err.problems).toEqual(['A=1: bad', 'B=(unset): required']);
    expect(classify(err).message).toBe('Invalid configuration: A=1: bad; B=(unset): required');
  });
});
