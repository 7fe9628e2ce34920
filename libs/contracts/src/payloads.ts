import { z } from 'zod';
import { InvalidInputError } from '@rescue/domain';
import { JobName } from './queues';

// Payloads carry ids, paths and small parameters, never source text or secrets: BullMQ stores job
// data in clear text in Redis. Every schema has `v`; a new field starts `.optional()` until the
// queues holding the old shape have drained.

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'expected a sha256 hex digest');
const recordId = z.string().regex(/^[0-9a-f]{32}$/, 'expected a 32-hex-digit record id');

export const datasetFormatSchema = z.enum(['auto', 'sven', 'safecoder', 'generic']);

/**
 * What a distributed KB build needs beyond its sources, carried from the ingest job to the jobs
 * it fans out to. Paths are as the workers see them (a shared volume).
 */
export const KbBuildSpec = z.object({
  buildId: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, _ and - only'),
  hops: z.number().int().min(0).max(10).default(2),
  clusterBy: z.enum(['language-cwe', 'cwe']).default('language-cwe'),
  kbDir: z.string().min(1),
  catalogPath: z.string().min(1).optional(),
  catalogOnlyNodes: z.boolean().default(true),
  /** CodeQL checkouts read as knowledge sources (query help and paired examples). */
  codeqlRoots: z.array(z.string().min(1)).default([]),
  /**
   * How guidelines are written, decided by whoever starts the build (as the inline build decides
   * it): `llm` needs a summarize worker with an LLM, and fails the build where there is none.
   */
  distillation: z.enum(['llm', 'extractive']).default('extractive'),
  /** The paper's b: cases per summarization call. */
  batchSize: z.number().int().min(2).max(50).default(10),
  /** `llm` embeds with the indexer's embeddings endpoint. */
  embedder: z.enum(['local', 'llm']).default('local'),
  /** Also publish to Elasticsearch under this prefix: the indexer's own ELASTICSEARCH_URL (URLs carry credentials, which never travel in job data). */
  elasticsearchPrefix: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'lowercase letters, digits, _ and -')
    .optional(),
  /**
   * Which sources the operator vouches for, by path as the workers see them (a file, or a folder
   * covering what is under it); the rest have their kind's default trust (docs/kb-poisoning.md).
   */
  trust: z.object({ trusted: z.array(z.string().min(1)).max(1000), untrusted: z.array(z.string().min(1)).max(1000) }).optional(),
  /** Ids of quarantined items an operator released (`rescue kb quarantine release`), read from the KB folder when the build started. */
  releasedIds: z
    .array(z.string().regex(/^[0-9a-f]{32}$/, 'expected a 32-hex-digit quarantine id'))
    .max(100_000)
    .optional(),
});

export const DatasetIngestPayload = z.object({
  v: z.literal(1),
  /** Files as the worker sees them (a shared volume), each with its content hash at enqueue time. */
  sources: z.array(z.object({ path: z.string().min(1), sha256: sha256Hex })).min(1),
  format: datasetFormatSchema.default('auto'),
  /** Present when this ingest starts a KB build: the ingest worker then fans out slice, summarize and index jobs. */
  build: KbBuildSpec.optional(),
});

export const RecordSlicePayload = z.object({
  v: z.literal(1),
  buildId: z.string().min(1),
  recordIds: z.array(recordId).min(1),
  hops: z.number().int().min(0).max(10).default(2),
});

export const ClusterSummarizePayload = z.object({
  v: z.literal(1),
  buildId: z.string().min(1),
  clusterKey: z.string().min(1),
  recordIds: z.array(recordId).min(1).optional(),
  build: KbBuildSpec.optional(),
});

export const KbIndexPayload = z.object({
  v: z.literal(1),
  /**
   * The build this job publishes (its version id is known only once the content is). It once
   * travelled twice, also as `kbVersion`; jobs enqueued with both still parse (zod drops the
   * unknown key).
   */
  buildId: z.string().min(1),
  build: KbBuildSpec.optional(),
});

export const TaskGeneratePayload = z.object({
  v: z.literal(1),
  batchId: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, _ and - only'),
  /** The task itself is in the generation store under (batchId, taskId): payloads carry no task text. */
  taskId: z.string().min(1).max(200),
  kbVersion: z.string().min(1),
  samples: z.number().int().min(1).max(100).default(1),
  kbDir: z.string().min(1).optional(),
  style: z.enum(['chat', 'completion']).default('chat'),
  temperature: z.number().min(0).max(2).default(0.2),
  /** Retrieved CWEs whose guidelines go into the prompt (1: the paper's single CWE) and their token budget. */
  guidanceCwes: z.number().int().min(1).max(10).default(1),
  guidanceTokens: z.number().int().min(100).max(32_000).default(1500),
});

/** The one map from job name to payload schema. */
export const JOB_PAYLOAD = {
  [JobName.DatasetIngest]: DatasetIngestPayload,
  [JobName.RecordSlice]: RecordSlicePayload,
  [JobName.ClusterSummarize]: ClusterSummarizePayload,
  [JobName.KbIndex]: KbIndexPayload,
  [JobName.TaskGenerate]: TaskGeneratePayload,
} as const satisfies Record<JobName, z.ZodType>;

export type KbBuildSpecInput = z.input<typeof KbBuildSpec>;
export type KbBuildSpecValue = z.output<typeof KbBuildSpec>;

export type JobPayload<N extends JobName> = z.output<(typeof JOB_PAYLOAD)[N]>;
export type JobPayloadInput<N extends JobName> = z.input<(typeof JOB_PAYLOAD)[N]>;

/** A payload that failed validation, with every problem as `field: message`. Invalid input: never retried. */
export class PayloadError extends InvalidInputError {
  constructor(
    readonly job: JobName,
    readonly problems: string[],
  ) {
    super(`Invalid ${job} payload: ${problems.join('; ')}`);
  }
}

/** Validates a payload on either end of the queue; throws PayloadError naming each bad field. */
export function parsePayload<N extends JobName>(name: N, data: unknown): JobPayload<N> {
  // A job's name is read from Redis, where any producer may have written it: `constructor` or
  // `toString` must be an unknown job, not Object's own properties called as a schema.
  if (typeof name !== 'string' || !Object.hasOwn(JOB_PAYLOAD, name)) {
    throw new PayloadError(name, [`(job name): unknown job ${JSON.stringify(String(name).slice(0, 80))}; known jobs: ${Object.keys(JOB_PAYLOAD).join(', ')}`]);
  }
  const result = JOB_PAYLOAD[name].safeParse(data);
  if (!result.success) {
    throw new PayloadError(
      name,
      result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`),
    );
  }
  return result.data as JobPayload<N>;
}
