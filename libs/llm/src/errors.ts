import { ConfigError, InvalidInputError, TransientUpstreamError } from '@rescue/domain';
import type { LlmRole } from './config';

/**
 * The LLM-specific errors. Each extends one of the shared classes in @rescue/domain, so the queue
 * library's single mapping (libs/queue error-mapping) decides retries without knowing about LLMs:
 * invalid-input and config kinds fail the job at once, transient ones retry with backoff, and a
 * 429 is the plain {@link RateLimitedError} from @rescue/domain.
 */

/** Where a failed call went; carried by every LLM error for logs and dashboards. */
export interface LlmCallSite {
  role: LlmRole;
  model: string;
  endpoint: 'chat' | 'completions' | 'embeddings';
}

/**
 * The model stopped at the output budget (finish_reason "length"). Not retried: the same request
 * with the same budget mostly truncates again and each attempt pays for the full budget. A caller
 * that can shrink its input (a smaller summarization batch) or raise `maxTokens` catches this.
 */
export class LlmTruncatedError extends InvalidInputError {
  constructor(
    message: string,
    readonly site: LlmCallSite,
    /** The output budget that was hit, when the client set one. */
    readonly maxTokens: number | undefined,
    /** Length in characters of the cut-off text (the text itself is not kept: it may be large). */
    readonly partialChars: number,
  ) {
    super(message);
  }
}

/** The model declined (a `refusal` message, or finish_reason "content_filter"). Not retried. */
export class LlmRefusalError extends InvalidInputError {
  constructor(
    message: string,
    readonly site: LlmCallSite,
    /** The model's refusal text, or the finish reason when there was none. */
    readonly refusal: string,
  ) {
    super(message);
  }
}

/** Why an answer was unusable: not JSON, JSON that breaks the schema, or no content at all. */
export type InvalidOutputReason = 'json' | 'schema' | 'empty' | 'shape';

/**
 * The answer could not be used (reliability.md §3.2: invalid JSON, schema violation). Transient:
 * sampling makes a second attempt likely to succeed, and the queue bounds the attempts. Such
 * answers are never cached.
 */
export class LlmInvalidOutputError extends TransientUpstreamError {
  constructor(
    message: string,
    readonly site: LlmCallSite,
    readonly reason: InvalidOutputReason,
    /** Zod issues as `path: message`, for `schema`; empty otherwise. */
    readonly issues: string[] = [],
  ) {
    super(message);
  }
}

/** 5xx, 408/409, timeouts and connection failures: worth retrying later. */
export class LlmUpstreamError extends TransientUpstreamError {
  constructor(
    message: string,
    readonly site: LlmCallSite,
    /** The HTTP status, when a response arrived. */
    readonly status: number | undefined,
    /** True when the client's timeout fired. */
    readonly timedOut: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The server rejected this request (400, 413, 422…): the same request will fail again. */
export class LlmRequestRejectedError extends InvalidInputError {
  constructor(
    message: string,
    readonly site: LlmCallSite,
    readonly status: number,
  ) {
    super(message);
  }
}

/** 401/403/404: wrong key, no access, or a model/endpoint the server does not have. Fix the settings; retrying cannot help. */
export class LlmConfigError extends ConfigError {
  constructor(
    problem: string,
    readonly site: LlmCallSite,
    readonly status: number,
  ) {
    super([problem]);
  }
}
