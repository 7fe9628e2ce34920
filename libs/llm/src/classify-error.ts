import type { APIError } from 'openai';
import { RateLimitedError, RescueError } from '@rescue/domain';
import { redactSecret } from './config';
import { type LlmCallSite, LlmConfigError, LlmRequestRejectedError, LlmUpstreamError } from './errors';

/**
 * The `openai` SDK, loaded on first use (a client built, an error classified): 45 ms of module
 * loading that a command only reading a KB (`rescue retrieve`, `kb stats`) never needs, though it
 * imports this library for its configuration and embedder types.
 */
export function openaiSdk(): typeof import('openai') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('openai') as typeof import('openai');
}

/** What {@link classifyLlmError} needs to know about the failed call. */
export interface FailedCall extends LlmCallSite {
  timeoutMs: number;
  /** How long the call ran before failing. */
  elapsedMs: number;
  /** The API key, only so it can be scrubbed from upstream messages. */
  secret: string | undefined;
}

/**
 * Maps an `openai` SDK failure onto our error vocabulary (reliability.md §3.1, style.md C10):
 * 429 → RateLimitedError with the server's retry hint; 5xx, 408, 409, timeouts and connection
 * failures → LlmUpstreamError (transient); 401/403/404 → LlmConfigError; other 4xx →
 * LlmRequestRejectedError. Our own errors pass through; anything else (a bug) is returned as is.
 * Upstream text is scrubbed of the API key, because some servers echo the header they rejected.
 */
export function classifyLlmError(err: unknown, call: FailedCall): Error {
  if (err instanceof RescueError) return err;
  const { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } = openaiSdk();
  const site: LlmCallSite = { role: call.role, model: call.model, endpoint: call.endpoint };
  const where = `${call.endpoint} call (role ${call.role}, model ${call.model})`;
  const clean = (text: string) => redactSecret(text, call.secret);

  // The SDK recognises its own timeout by the abort error's name, which fails when fetch's
  // DOMException comes from another realm (as under jest); a connection error at the deadline is
  // the timeout either way. Node timers may fire a millisecond early, hence the small slack.
  const atDeadline = err instanceof APIConnectionError && !(err instanceof APIUserAbortError) && call.elapsedMs >= call.timeoutMs - 5;
  if (err instanceof APIConnectionTimeoutError || atDeadline) {
    return new LlmUpstreamError(`LLM ${where} timed out after ${call.timeoutMs} ms`, site, undefined, true);
  }
  if (err instanceof APIUserAbortError) {
    return new LlmUpstreamError(`LLM ${where} was aborted`, site, undefined, false);
  }
  if (err instanceof APIConnectionError) {
    const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
    // The SDK's cause is an undici error; keep only its (scrubbed) message, not the object.
    return new LlmUpstreamError(clean(`LLM ${where} could not connect${cause}`), site, undefined, false);
  }
  if (err instanceof APIError) {
    const status = err.status;
    const detail = clean(upstreamMessage(err));
    if (status === undefined) return new LlmUpstreamError(`LLM ${where} failed: ${detail}`, site, undefined, false);
    // OpenAI answers an exhausted budget with 429 too, but waiting does not refill it.
    if (status === 429 && err.code === 'insufficient_quota') {
      return new LlmConfigError(`LLM_API_KEY: the account behind the key has no quota left (429 insufficient_quota) on a ${where}: ${detail}`, site, status);
    }
    if (status === 429) return new RateLimitedError(`LLM ${where} was rate limited (429): ${detail}`, retryAfterMs(err.headers));
    if (status >= 500 || status === 408 || status === 409) {
      return new LlmUpstreamError(`LLM ${where} failed with ${status}: ${detail}`, site, status, false);
    }
    if (status === 401 || status === 403) {
      return new LlmConfigError(`LLM_API_KEY: the LLM server refused the key (${status}) on a ${where}: ${detail}`, site, status);
    }
    if (status === 404) {
      return new LlmConfigError(`LLM_BASE_URL or model: not found (404) on a ${where}: ${detail}`, site, status);
    }
    return new LlmRequestRejectedError(`LLM ${where} was rejected with ${status}: ${detail}`, site, status);
  }
  // Not the SDK's and not ours: a bug we cannot name, so it stays outside the family on purpose
  // (classify() calls it internal: retried by a queue, HTTP 500). A non-Error is wrapped only to
  // carry a stack; a family member here would claim a kind nobody determined.
  return err instanceof Error ? err : new Error(clean(String(err)));
}

/** The server's hint in ms: `retry-after-ms`, else `retry-after` as seconds or an HTTP date. */
export function retryAfterMs(headers: Headers | undefined, nowMs = Date.now()): number | undefined {
  if (!headers) return undefined;
  const ms = headers.get('retry-after-ms');
  if (ms !== null && ms.trim() !== '' && Number.isFinite(Number(ms))) return Math.max(0, Math.round(Number(ms)));
  const after = headers.get('retry-after');
  if (after === null || after.trim() === '') return undefined;
  const seconds = Number(after);
  if (Number.isFinite(seconds)) return Math.max(0, Math.round(seconds * 1000));
  const date = Date.parse(after);
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMs);
}

function upstreamMessage(err: APIError): string {
  // err.message is "<status> <server message>"; the status is already in our own message.
  const text = err.message.replace(/^\d{3}\s+/, '').trim();
  return text === '' ? '(no message)' : text.slice(0, 500);
}
