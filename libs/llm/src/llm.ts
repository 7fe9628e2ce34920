import type { z } from 'zod';
import { type describeLlmConfig, LLM_ROLES, type LlmRole, type TextRole } from './config';
import type { ChatMessage, PromptTemplate } from './prompts/template';

// The port the pipeline depends on (Llm), and what its calls take and return. LlmClient
// (llm-client.ts) implements it over HTTP; CachedLlm (cached-llm.ts) decorates any implementation
// with the response cache.

/** Per-call settings. Every field is optional; the client's configuration supplies the defaults. */
export interface LlmCallOptions {
  /** Output budget for this call (defaults to the configured `maxTokens`). */
  maxTokens?: number;
  temperature?: number;
  /** Sampling seed, for servers that honour it (reliability.md §3.4: "mostly" reproducible). */
  seed?: number;
  /** Overrides the configured request timeout. */
  timeoutMs?: number;
  /** Cancels the request (e.g. on worker shutdown); surfaces as a transient error. */
  signal?: AbortSignal;
  /** Set false to bypass the response cache for this call (neither read nor written; see {@link withResponseCache}). */
  cache?: boolean;
  /** The template that produced the messages; names the call in its cache key (see {@link withResponseCache}). */
  template?: { id: string; version: number };
}

/** Settings of {@link LlmClient.structured} on top of {@link LlmCallOptions}. */
export interface StructuredCallOptions extends LlmCallOptions {
  /** Name of the JSON schema sent with `json_schema` mode (`[A-Za-z0-9_-]`, at most 64). Default `output`. */
  schemaName?: string;
  /** Overrides the configured structured mode for this call. */
  mode?: 'json_schema' | 'json_object';
}

/** Settings of {@link LlmClient.embed}. */
export interface EmbedOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Set false to bypass the response cache (see {@link withResponseCache}). */
  cache?: boolean;
}

/** Tokens one call used, as the server reported them (zeros when it reported nothing). */
export interface LlmUsage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
}

/** The answer of a chat or completion call. */
export interface LlmTextResult {
  text: string;
  /** The server's finish reason (normally `stop`; anything that makes the text unusable throws instead). */
  finishReason: string;
  /** Usage of the call that produced the text (for a cache hit, the original call's usage; no tokens were spent). */
  usage: LlmUsage;
  /** The model the server says answered. */
  model: string;
  /** True when served from the response cache without an HTTP request (only {@link withResponseCache} sets it). */
  cached: boolean;
}

/** The answer of a structured call: the text and the value parsed from it. */
export interface LlmStructuredResult<T> extends LlmTextResult {
  value: T;
}

/** The answer of an embedding call. */
export interface LlmEmbeddingResult {
  /** One vector per input text, in input order. */
  vectors: Float32Array[];
  /** Tokens of the texts actually sent (cached texts cost nothing). */
  usage: LlmUsage;
  model: string;
  /** How many of the texts came from the response cache (0 without {@link withResponseCache}). */
  cachedCount: number;
}

/** Running counters of one role. */
export interface LlmRoleStats {
  /** HTTP requests sent. */
  requests: number;
  /** Calls (for embeddings: texts) answered from the response cache without a request (0 without {@link withResponseCache}). */
  cacheHits: number;
  /** Calls that threw, for any reason (upstream, truncation, refusal, invalid output). */
  failures: number;
  promptTokens: number;
  completionTokens: number;
}

/** Running counters of a client: totals and per role. */
export interface LlmStats extends LlmRoleStats {
  /** Answers that could not be written to the response cache (the call itself still succeeded). */
  cacheWriteErrors: number;
  byRole: Record<LlmRole, LlmRoleStats>;
}

/**
 * What the pipeline stages depend on. {@link LlmClient} implements it against a real server;
 * {@link withResponseCache} wraps any implementation with the response cache; tests run the same
 * client against `FakeOpenAiServer` from @rescue/testing.
 */
export interface Llm {
  /** A chat completion; returns the assistant's text. */
  chat(role: TextRole, messages: readonly ChatMessage[], options?: LlmCallOptions): Promise<LlmTextResult>;
  /** A legacy `/completions` call (for completion-style models that take a raw prompt, paper App. D.2.1). */
  complete(role: TextRole, prompt: string, options?: LlmCallOptions): Promise<LlmTextResult>;
  /** A chat completion whose answer must be JSON that satisfies `schema`. */
  structured<T>(role: TextRole, messages: readonly ChatMessage[], schema: z.ZodType<T>, options?: StructuredCallOptions): Promise<LlmStructuredResult<T>>;
  /** Renders a prompt template and runs it as a structured call with the template's role and output schema. */
  run<I, O>(template: PromptTemplate<I, O>, input: I, options?: Omit<StructuredCallOptions, 'template' | 'schemaName'>): Promise<LlmStructuredResult<O>>;
  /** Embeds texts with the embedder model. */
  embed(texts: readonly string[], options?: EmbedOptions): Promise<LlmEmbeddingResult>;
  /** A snapshot of the running counters. */
  stats(): LlmStats;
  /** The model that serves a role. */
  modelFor(role: LlmRole): string;
  /** The configuration with the API key masked: safe to log. */
  describe(): LlmDescription;
}

/** What {@link Llm.describe} returns: the configuration, its key masked. */
export type LlmDescription = ReturnType<typeof describeLlmConfig>;

/** Counters at zero, one entry per role. */
export function emptyLlmStats(): LlmStats {
  const byRole = {} as Record<LlmRole, LlmRoleStats>;
  for (const role of LLM_ROLES) byRole[role] = emptyRoleStats();
  return { ...emptyRoleStats(), cacheWriteErrors: 0, byRole };
}

function emptyRoleStats(): LlmRoleStats {
  return { requests: 0, cacheHits: 0, failures: 0, promptTokens: 0, completionTokens: 0 };
}
