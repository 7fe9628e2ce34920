import { z } from 'zod';
import { storageEnv } from '@rescue/config';

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const flag = z
  .enum(['true', 'false'])
  .default('false')
  .transform((v) => v === 'true');

/** The job API's settings (KB builds, generation batches, completion webhooks), part of the API's schema. */
export const jobsEnv = storageEnv.extend({
  /**
   * The only folder named KB build sources may come from (a volume the workers share); a path that
   * resolves outside it, through `..` or a symbolic link, is refused. Unset: builds from named
   * sources are refused (uploads still work).
   */
  KB_SOURCES_ROOT: z.string().min(1).optional(),
  /** The largest fix-pair JSONL upload, in bytes. */
  KB_UPLOAD_MAX_BYTES: int(1024, 64 * 1024 * 1024 * 1024).default(256 * 1024 * 1024),
  /** The largest NDJSON batch submit, in bytes (a JSON submit is bounded by the API's body limit). */
  GENERATION_SUBMIT_MAX_BYTES: int(1024, 16 * 1024 * 1024 * 1024).default(256 * 1024 * 1024),
  /** Signs completion webhooks (HMAC-SHA256). Unset: a submit with a webhookUrl is refused. */
  WEBHOOK_SECRET: z.string().min(32, 'at least 32 characters').optional(),
  /** Allow webhooks to loopback, private, link-local and other internal addresses (SSRF guard off): tests, single-host setups. */
  WEBHOOK_ALLOW_PRIVATE: flag,
  /** Delivery attempts per webhook before it is given up (exponential backoff between them, capped at 10 minutes). */
  WEBHOOK_ATTEMPTS: int(1, 50).default(10),
  WEBHOOK_TIMEOUT_MS: int(100, 120_000).default(10_000),
  /** How often the API looks at open builds and batches (recording outcomes, sending webhooks). */
  JOB_WATCH_INTERVAL_MS: int(100, 600_000).default(1000),
});

export type JobsConfig = z.output<typeof jobsEnv>;
