/**
 * The error vocabulary shared by every library. Each concern maps these in one place through
 * {@link classify}: the queue (bad input is never retried, rate limits slow the whole queue,
 * everything else retries), the CLI's exit code and the API's HTTP status.
 */
export type RescueErrorKind = 'invalid-input' | 'unsupported' | 'rate-limited' | 'transient' | 'config' | 'not-found' | 'conflict';

export abstract class RescueError extends Error {
  abstract readonly kind: RescueErrorKind;
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
  constructor(
    message: string,
    readonly retryAfterMs?: number,
    options?: { cause?: unknown },
  ) {
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

/**
 * Something named is not there: a KB, a KB version, a job, a record, a file. Not retried (asking
 * again finds the same nothing); publishing or creating it first is the remedy the message names.
 */
export class NotFoundError extends RescueError {
  readonly kind = 'not-found' as const;
}

/**
 * The request clashes with the state of what it names: an idempotency key reused while its first
 * request is still being handled, or for another request; an operation the object's state forbids
 * (re-attempting a cancelled batch). Not retried as is.
 */
export class ConflictError extends RescueError {
  readonly kind = 'conflict' as const;
}

/** What a thrown value means to each concern; `internal` is anything outside the family (a bug, a library's own error). */
export interface ClassifiedError {
  kind: RescueErrorKind | 'internal';
  /** For a queue: whether another attempt may succeed. */
  retryable: boolean;
  /** For the CLI. */
  exitCode: number;
  /** For the HTTP API. */
  httpStatus: number;
  message: string;
}

/**
 * The one table from error kind to behaviour:
 *
 * | kind          | retryable | exit | HTTP | why                                                        |
 * |---------------|-----------|------|------|------------------------------------------------------------|
 * | invalid-input | no        | 1    | 400  | the same input fails the same way again                    |
 * | unsupported   | no        | 1    | 422  | well-formed, but a language or feature we do not handle    |
 * | not-found     | no        | 1    | 404  | asking again finds the same nothing                        |
 * | conflict      | no        | 1    | 409  | the named object's state forbids it; resolve that first    |
 * | config        | no        | 1    | 503  | the service cannot serve until its settings are fixed      |
 * | rate-limited  | yes       | 1    | 429  | the queue pauses for the hint instead of spending attempts |
 * | transient     | yes       | 1    | 503  | network, 5xx, timeout: may pass on retry                   |
 * | internal      | yes       | 1    | 500  | not ours to judge; retries bound the cost of a fluke       |
 *
 * The CLI exits 1 for every failure (its documented contract; the message says which one), so
 * scripts need not learn a code per kind. Callers may still answer more precisely where they know
 * more (the API answers 503 for any KB that cannot be opened: to a client that is the service
 * being unavailable, whatever the reason).
 */
const TABLE: Record<ClassifiedError['kind'], Omit<ClassifiedError, 'kind' | 'message'>> = {
  'invalid-input': { retryable: false, exitCode: 1, httpStatus: 400 },
  unsupported: { retryable: false, exitCode: 1, httpStatus: 422 },
  'not-found': { retryable: false, exitCode: 1, httpStatus: 404 },
  conflict: { retryable: false, exitCode: 1, httpStatus: 409 },
  config: { retryable: false, exitCode: 1, httpStatus: 503 },
  'rate-limited': { retryable: true, exitCode: 1, httpStatus: 429 },
  transient: { retryable: true, exitCode: 1, httpStatus: 503 },
  internal: { retryable: true, exitCode: 1, httpStatus: 500 },
};

/** Classifies any thrown value (an Error or not) by {@link TABLE}. */
export function classify(err: unknown): ClassifiedError {
  const kind = err instanceof RescueError ? err.kind : 'internal';
  return { kind, ...TABLE[kind], message: messageOf(err) };
}

function messageOf(err: unknown): string {
  // Duck-typed: Node's own errors are not `instanceof Error` in another realm (jest's vm).
  if (typeof err === 'object' && err !== null) {
    const { message } = err as { message?: unknown };
    if (typeof message === 'string') return message;
    // String() throws on an object without toString (a null-prototype object).
    return typeof (err as { toString?: unknown }).toString === 'function' ? String(err) : Object.prototype.toString.call(err);
  }
  return String(err);
}
