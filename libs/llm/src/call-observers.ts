import type { LlmCallSite } from './errors';

/**
 * One finished LLM request (`kind: 'request'`: its transport outcome, time and tokens), or an
 * answer that arrived but was refused afterwards (`kind: 'output'`: truncated, a refusal, JSON
 * that fails its schema; its request was reported as `ok` already). Carries no text and no key.
 */
export interface LlmCallEvent {
  kind: 'request' | 'output';
  role: LlmCallSite['role'];
  endpoint: LlmCallSite['endpoint'];
  model: string;
  /** `ok`, or the error's class name (RateLimitedError, TransientUpstreamError, …). */
  outcome: string;
  seconds: number;
  promptTokens?: number;
  completionTokens?: number;
}

export type LlmCallObserver = (event: LlmCallEvent) => void;

const observers = new Set<LlmCallObserver>();

/**
 * Calls `observer` after every request any LlmClient in this process makes (responses served by
 * the cache make none). For metrics: the LLM library knows nothing of Prometheus, the apps wire
 * it (`onLlmCall((e) => metrics.recordLlmCall(e))`). Returns the unsubscribe function.
 */
export function onLlmCall(observer: LlmCallObserver): () => void {
  observers.add(observer);
  return () => observers.delete(observer);
}

export function notifyLlmCall(event: LlmCallEvent): void {
  for (const observer of observers) {
    try {
      observer(event);
    } catch (_observerFailed) {
      // An observer's bug must not fail the LLM call it observes; metrics are not worth a job.
    }
  }
}
