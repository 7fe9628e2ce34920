/**
 * The error vocabulary shared by every library. The queue library maps these onto BullMQ in one
 * place: bad input is never retried, rate limits slow the whole queue, everything else retries.
 */
export abstract class RescueError extends Error {
  abstract readonly kind: 'invalid-input' | 'unsupported' | 'rate-limited' | 'transient' | 'config';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The input can never succeed as given (malformed payload, bad file, wrong type). Not retried. */
export class InvalidInputError extends RescueError {
  readonly kind = 'invalid-input' as const;
}

/** A language, format or feature we do not handle. Not retried. */
export class UnsupportedLanguageError extends RescueError {
  readonly kind = 'unsupported' as const;
}

/** An upstream said "slow down". `retryAfterMs` is its hint, when it gave one. */
export class RateLimitedError extends RescueError {
  readonly kind = 'rate-limited' as const;
  constructor(message: string, readonly retryAfterMs?: number, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A failure that may pass on retry (network, 5xx, timeout). */
export class TransientUpstreamError extends RescueError {
  readonly kind = 'transient' as const;
}

/** Configuration is invalid; `problems` lists every offending key. */
export class ConfigError extends RescueError {
  readonly kind = 'config' as const;
  constructor(readonly problems: string[]) {
    super(`Invalid configuration: ${problems.join('; ')}`);
  }
}
