import { join } from 'node:path';
import type { LlmEnv } from '@rescue/config';

/** The jobs the pipeline gives a model; each may use a different one (paper §3.3, §4.1, §5). */
export const LLM_ROLES = ['summarizer', 'analyzer', 'generator', 'embedder'] as const;

/** One of {@link LLM_ROLES}. */
export type LlmRole = (typeof LLM_ROLES)[number];

/** The roles served by text-generation models (everything but the embedder). */
export type TextRole = Exclude<LlmRole, 'embedder'>;

/** Everything {@link LlmClient} needs to reach an OpenAI-compatible server. */
export interface LlmConfig {
  /** Base URL including the API prefix, e.g. `https://api.openai.com/v1` or `http://127.0.0.1:8080/v1`. */
  baseUrl: string;
  /** Bearer key. Never logged and never put into error messages (see {@link maskSecret}). */
  apiKey?: string;
  /** The model per role. */
  models: Record<LlmRole, string>;
  /** Per-request timeout handed to the SDK; a timeout surfaces as a transient error. */
  timeoutMs: number;
  /** Default output budget of chat and completion calls (reliability.md §3.3). */
  maxTokens: number;
  /** Which field carries the budget on chat calls. Default `max_completion_tokens`. */
  maxTokensParam?: 'max_completion_tokens' | 'max_tokens';
  /** How `structured` asks for JSON. Default `json_schema`. */
  structuredMode?: 'json_schema' | 'json_object';
  /** Requested embedding length (`dimensions`), when the model supports choosing it. */
  embeddingDimensions?: number;
  /**
   * Wire format of embeddings. `base64` (the SDK default, smaller responses) or `float` for
   * servers that cannot encode base64.
   */
  embeddingEncoding?: 'base64' | 'float';
  /** Most texts per embeddings request. Default 256. */
  embeddingBatchSize?: number;
}

/**
 * The client configuration from the validated environment, or undefined when LLM_BASE_URL is
 * unset, which is how a deployment says "no LLM" (stages then use their extractive fallbacks or
 * refuse to start).
 */
export function llmConfigFromEnv(env: LlmEnv): LlmConfig | undefined {
  if (env.LLM_BASE_URL === undefined) return undefined;
  return {
    baseUrl: env.LLM_BASE_URL,
    apiKey: env.LLM_API_KEY,
    models: {
      summarizer: env.LLM_MODEL_SUMMARIZER ?? env.LLM_MODEL,
      analyzer: env.LLM_MODEL_ANALYZER ?? env.LLM_MODEL,
      generator: env.LLM_MODEL_GENERATOR ?? env.LLM_MODEL,
      embedder: env.LLM_MODEL_EMBEDDER,
    },
    timeoutMs: env.LLM_TIMEOUT_MS,
    maxTokens: env.LLM_MAX_TOKENS,
    maxTokensParam: env.LLM_MAX_TOKENS_PARAM,
    structuredMode: env.LLM_STRUCTURED_MODE,
    embeddingDimensions: env.LLM_EMBEDDING_DIMENSIONS,
  };
}

/** Where (and whether) LLM answers are cached, from the environment. */
export interface LlmCacheSettings {
  kind: 'none' | 'memory' | 'fs';
  /** Directory of the filesystem cache. */
  dir: string;
}

/** Cache settings from the environment; the directory defaults to `<dataDir>/llm-cache`. */
export function llmCacheSettingsFromEnv(env: LlmEnv, dataDir = 'rescue-data'): LlmCacheSettings {
  return { kind: env.LLM_CACHE, dir: env.LLM_CACHE_DIR ?? join(dataDir, 'llm-cache') };
}

/**
 * A secret reduced to something safe to print: its last four characters when it is long enough
 * that four characters reveal nothing useful, otherwise only whether it is set.
 */
export function maskSecret(secret: string | undefined): string {
  if (secret === undefined || secret === '') return '(unset)';
  return secret.length >= 20 ? `****${secret.slice(-4)}` : '****';
}

/** The configuration with the key masked: the only form of it that may be logged. */
export function describeLlmConfig(config: LlmConfig): Omit<LlmConfig, 'apiKey'> & { apiKey: string } {
  return { ...config, models: { ...config.models }, apiKey: maskSecret(config.apiKey) };
}

/** Replaces every occurrence of `secret` in `text` by its mask (servers sometimes echo the key). */
export function redactSecret(text: string, secret: string | undefined): string {
  if (secret === undefined || secret.length < 4) return text;
  return text.split(secret).join(maskSecret(secret));
}
