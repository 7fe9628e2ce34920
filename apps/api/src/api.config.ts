import { z } from 'zod';
import { elasticsearchEnv, httpEnv, llmEnv, loadConfig, redisEnv } from '@rescue/config';

export const apiEnv = redisEnv
  .extend(httpEnv.shape)
  .extend(elasticsearchEnv.shape)
  // Only to query a KB built with `--embedder llm` (its query embeddings come from that endpoint).
  .extend(llmEnv.shape)
  .extend({
    /** The KB folder /v1/retrieve serves (its CURRENT version); unset: the endpoint answers 503. */
    RESCUE_KB_DIR: z.string().min(1).optional(),
    /**
     * Comma-separated keys callers send as `Authorization: Bearer <key>`. Unset: no authentication,
     * acceptable only on the default loopback HOST; set it before exposing the API.
     */
    API_KEYS: z
      .string()
      .optional()
      .transform((v) => (v ?? '').split(',').map((k) => k.trim()).filter(Boolean))
      .refine((keys) => keys.every((k) => k.length >= 16), 'every key needs at least 16 characters'),
  });

export type ApiConfig = z.output<typeof apiEnv>;

export const loadApiConfig = (env?: Record<string, string | undefined>): ApiConfig => loadConfig(apiEnv, env);
