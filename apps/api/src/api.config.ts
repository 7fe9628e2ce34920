import { z } from 'zod';
import { elasticsearchEnv, httpEnv, llmEnv, loadConfig, redisEnv } from '@rescue/config';
import { apiKeysSchema } from './api-keys';
import { jobsEnv } from './jobs/jobs.config';

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

export const apiEnv = redisEnv
  .extend(httpEnv.shape)
  .extend(elasticsearchEnv.shape)
  // Only to query a KB built with `--embedder llm` (its query embeddings come from that endpoint).
  .extend(llmEnv.shape)
  // The job API: KB builds, generation batches, webhooks (apps/api/src/jobs).
  .extend(jobsEnv.shape)
  .extend({
    /** The KB folder /v1/retrieve serves (its CURRENT version); unset: the endpoint answers 503. */
    RESCUE_KB_DIR: z.string().min(1).optional(),
    /**
     * Keys callers send as `Authorization: Bearer <key>`, with their scopes (see api-keys.ts for the
     * format). Unset: no authentication, acceptable only on the default loopback HOST.
     */
    API_KEYS: apiKeysSchema,
    /** Requests per key (per client address without keys) and minute, counted in Redis; 0: no limit. */
    API_RATE_LIMIT_PER_MINUTE: int(0, 1_000_000).default(600),
    /** The largest request body, in bytes (413 beyond it, refused before reading when Content-Length says so). */
    API_BODY_LIMIT_BYTES: int(1024, 64 * 1024 * 1024).default(1024 * 1024),
    /** A body must arrive within this long of its headers (408, connection closed); a stalled client holds nothing longer. */
    API_BODY_DEADLINE_MS: int(100, 600_000).default(5000),
    /** A request not answered within this long gets 503; its retrieval task is cancelled. */
    API_REQUEST_TIMEOUT_MS: int(100, 600_000).default(30_000),
    /** Worker threads for ordinary retrievals (each holds the KB open). */
    API_RETRIEVAL_THREADS: int(1, 64).default(2),
    /** Worker threads for large prompts, kept apart so they cannot occupy every ordinary thread. */
    API_HEAVY_THREADS: int(1, 64).default(1),
    /**
     * How much lower the heavy threads' CPU priority is (Linux nice, 0-19): when cores are short,
     * ordinary requests go first and large prompts take longer. 0: same priority.
     */
    API_HEAVY_NICE: int(0, 19).default(19),
    /** A prompt of at least this many bytes is "large" and goes to the heavy threads. */
    API_HEAVY_PROMPT_BYTES: int(1, 64 * 1024 * 1024).default(32 * 1024),
    /** Tasks waiting per pool beyond which requests get 503 + Retry-After (a concurrency cap). */
    API_POOL_MAX_QUEUE: int(1, 100_000).default(256),
    /** SIGTERM to exit: in-flight requests get at most this long. Below k8s terminationGracePeriodSeconds. */
    SHUTDOWN_GRACE_MS: int(100, 600_000).default(20_000),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** `admin`: /metrics needs a key with the admin scope (when API_KEYS is set); `none`: open, for a scraper inside the cluster. */
    METRICS_AUTH: z.enum(['admin', 'none']).default('admin'),
  });

export type ApiConfig = z.output<typeof apiEnv>;

export const loadApiConfig = (env?: Record<string, string | undefined>): ApiConfig => loadConfig(apiEnv, env);
