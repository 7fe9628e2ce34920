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
    const shown = value === undefined ? '(unset)' : /KEY|TOKEN|SECRET|PASSWORD/i.test(key) ? '(hidden)' : JSON.stringify(value);
    return `${key}=${shown}: ${issue.message}`;
  });
  throw new ConfigError(problems);
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
