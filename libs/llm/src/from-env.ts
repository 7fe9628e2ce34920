import type { LlmEnv } from '@rescue/config';
import { createLlmCache } from './cache';
import { withResponseCache } from './cached-llm';
import { llmCacheSettingsFromEnv, llmConfigFromEnv } from './config';
import type { Llm } from './llm';
import { LlmClient } from './llm-client';

/**
 * The LLM from the validated environment: an {@link LlmClient} behind the response cache that
 * LLM_CACHE / LLM_CACHE_DIR name (`<dataDir>/llm-cache` by default), or undefined when no LLM is
 * configured (LLM_BASE_URL unset).
 *
 * @throws ConfigError when the configured client settings are invalid.
 */
export function llmFromEnv(env: LlmEnv, options: { dataDir?: string } = {}): Llm | undefined {
  const config = llmConfigFromEnv(env);
  if (!config) return undefined;
  return withResponseCache(new LlmClient(config), createLlmCache(llmCacheSettingsFromEnv(env, options.dataDir)));
}
