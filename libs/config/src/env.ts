import { z } from 'zod';
import { ConfigError } from '@rescue/domain';

// The only module in the project that reads process.env. Each app composes the fragments it needs
// into one schema and parses it once at startup.

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** Redis connection and the BullMQ key prefix (one prefix per deployment or test). */
export const redisEnv = z.object({
  REDIS_URL: z.string().url().default('redis://127.0.0.1:6379'),
  QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and - only (no ":")')
    .default('rescue'),
  // Workers: the longest queue-wide pause one upstream 429 may impose (its Retry-After is cut to
  // it), and how many rate-limited restarts one job may take before it fails (libs/queue
  // error-mapping). Steady rate limiting thus ends a job within about RETRIES x CAP.
  RATE_LIMIT_CAP_MS: int(0, 24 * 3600 * 1000).default(60_000),
  RATE_LIMIT_RETRIES: int(0, 10_000).default(20),
  // Producers waiting on jobs (CLI, API): how long no worker may consume the queue, or Redis stay
  // unreachable, before the wait fails saying so (libs/queue settledJob).
  QUEUE_WAIT_TIMEOUT_MS: int(1000, 24 * 3600 * 1000).default(60_000),
});

/** Per-stage worker knobs: STAGE_CONCURRENCY and STAGE_ATTEMPTS. */
export function stageEnv<S extends string>(stage: S) {
  return z.object({
    [`${stage}_CONCURRENCY`]: int(1, 1000).default(4),
    [`${stage}_ATTEMPTS`]: int(1, 50).default(5),
  } as Record<`${S}_CONCURRENCY` | `${S}_ATTEMPTS`, z.ZodDefault<z.ZodCoercedNumber<unknown>>>);
}

/** Where embedded artifacts live and which record store backs the pipeline. */
export const storageEnv = z.object({
  RESCUE_DATA_DIR: z.string().min(1).default('rescue-data'),
  RECORD_STORE: z.enum(['fs', 'redis']).default('fs'),
});

/** Ingest validation limits. */
export const ingestEnv = z.object({
  INGEST_MAX_LINE_BYTES: int(1024, 512 * 1024 * 1024).default(8 * 1024 * 1024),
});

/** HTTP gateway. */
export const httpEnv = z.object({
  PORT: int(0, 65535).default(3000),
  HOST: z.string().default('127.0.0.1'),
});

/** Empty strings count as unset, so `FOO=` in a compose file falls back to the default. */
function withoutEmpty(env: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v !== '') out[k] = v;
  return out;
}

/**
 * Parses the environment against a schema. On failure throws ConfigError listing every invalid
 * key with its value (values of keys that look secret are masked) and the rule it broke.
 */
export function loadConfig<S extends z.ZodObject>(schema: S, env: Record<string, string | undefined> = process.env): z.output<S> {
  const raw = withoutEmpty(env);
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const key = issue.path.join('.');
    const value = raw[key];
    const shown = value === undefined ? '(unset)' : /KEY|TOKEN|SECRET|PASSWORD/i.test(key) ? '(hidden)' : JSON.stringify(maskCredentials(value));
    return `${key}=${shown}: ${maskCredentials(issue.message)}`;
  });
  throw new ConfigError(problems);
}

// Query parameters that carry a secret in the URLs people paste (?key=, ?api_key=, ?token=, SAS `sig`).
const SECRET_PARAM = /([?&;](?:[^=&#;\s]*(?:key|token|secret|passw(?:or)?d|pwd|auth|credential|signature)[^=&#;\s]*|sig)=)[^&#;\s]*/gi;

/**
 * Masks the credentials of every URL-like part of `text`: the user-info (`//user:pass@` becomes
 * `//***@`) and secret-looking query parameters (`?key=…` becomes `?key=***`). Works on text that
 * does not parse as a URL, because an invalid URL is exactly what a config error prints. Written
 * here rather than taken from a library: the few that exist parse URLs first and so miss the
 * broken ones.
 */
export function maskCredentials(text: string): string {
  return text.replace(/(\/\/)[^\s"']*@/g, '$1***@').replace(SECRET_PARAM, '$1***');
}

export type RedisEnv = z.output<typeof redisEnv>;
export type StorageEnv = z.output<typeof storageEnv>;
export type IngestEnv = z.output<typeof ingestEnv>;

/**
 * For entry points: parses the configuration, and on failure prints every invalid key to stderr
 * and exits 1 (a half-configured worker must not start).
 */
export function loadConfigOrExit<S extends z.ZodObject>(app: string, schema: S, env: Record<string, string | undefined> = process.env): z.output<S> {
  try {
    return loadConfig(schema, env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${app}: cannot start, ${err.problems.length} invalid setting(s):\n  ${err.problems.join('\n  ')}\n`);
    process.exit(1);
  }
}

/**
 * The LLM endpoint (any OpenAI-compatible server). LLM_BASE_URL unset means "no LLM configured":
 * stages that can work without one (extractive summaries) do, the others refuse to start.
 * LLM_API_KEY is optional because local servers (llama-server, vLLM) often take none; loadConfig
 * masks it in errors because its name contains KEY. A role without its own model uses LLM_MODEL.
 */
export const llmEnv = z.object({
  LLM_BASE_URL: z.string().url().optional(),
  LLM_API_KEY: z.string().min(1).optional(),
  LLM_MODEL: z.string().min(1).default('gpt-4o-mini'),
  LLM_MODEL_SUMMARIZER: z.string().min(1).optional(),
  LLM_MODEL_ANALYZER: z.string().min(1).optional(),
  LLM_MODEL_GENERATOR: z.string().min(1).optional(),
  LLM_MODEL_EMBEDDER: z.string().min(1).default('text-embedding-3-small'),
  LLM_EMBEDDING_DIMENSIONS: int(1, 65_536).optional(),
  LLM_TIMEOUT_MS: int(100, 3_600_000).default(120_000),
  LLM_MAX_TOKENS: int(1, 1_000_000).default(2048),
  // Newer OpenAI models reject max_tokens; some local servers only know max_tokens.
  LLM_MAX_TOKENS_PARAM: z.enum(['max_completion_tokens', 'max_tokens']).default('max_completion_tokens'),
  // json_object for servers that reject response_format json_schema (llama.cpp#11847).
  LLM_STRUCTURED_MODE: z.enum(['json_schema', 'json_object']).default('json_schema'),
  LLM_CACHE: z.enum(['none', 'memory', 'fs']).default('fs'),
  // Unset: <RESCUE_DATA_DIR>/llm-cache, resolved by libs/llm so the two settings cannot drift.
  LLM_CACHE_DIR: z.string().min(1).optional(),
});

export type LlmEnv = z.output<typeof llmEnv>;

/** Where a process searches a KB published to Elasticsearch (unset: the KB folder's LanceDB). */
export const elasticsearchEnv = z.object({
  ELASTICSEARCH_URL: z.string().url().optional(),
  ELASTICSEARCH_PREFIX: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]{0,100}$/, 'lowercase letters, digits, _ and - (an Elasticsearch index name prefix)')
    .default('rescue'),
});
