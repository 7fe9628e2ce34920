import { z } from 'zod';

// The job routes' answers, written from the types the controllers return (BatchStatus and
// BatchResultItem in libs/pipeline/src/generation-batches.ts, KbBuildStatus in
// libs/pipeline/src/kb-build-jobs.ts, KbManifest in libs/knowledge). Those are TypeScript
// interfaces, not zod, so they are restated here; the OpenAPI test checks real answers against
// these, which is what catches the two drifting apart. Objects are closed (z.object emits
// additionalProperties: false for responses) where this API owns the shape, open where the shape
// belongs to another layer that may add fields (the KB manifest, the ingest job's report, a
// generation result).

const tokens = z.object({ prompt: z.number().int(), completion: z.number().int() });
const warnings = z.array(z.string()).optional().describe('Present while work waits in a queue no worker consumes, saying which app to start');

export const BatchCountsBody = z.object({
  total: z.number().int(),
  pending: z.number().int(),
  active: z.number().int(),
  done: z.number().int(),
  failed: z.number().int(),
  cancelled: z.number().int(),
});

/** GET /v1/generation/batches/{id}, and the cancel answer. */
export const BatchStatusBody = z.object({
  id: z.string(),
  status: z.enum(['running', 'completed', 'cancelled']),
  createdAt: z.string(),
  kbVersion: z.string(),
  round: z.number().int(),
  counts: BatchCountsBody,
  rejected: z.number().int().describe('Tasks the submit refused'),
  failuresByClass: z.record(z.string(), z.number().int()),
  warnings,
});

/** The submit's answer: the status, and the first 100 refused tasks with their place in the body. */
export const BatchSubmitBody = BatchStatusBody.extend({
  rejectedTasks: z.array(z.object({ at: z.string(), field: z.string(), message: z.string() })),
});

/** GenerationResult (libs/generation). */
export const GenerationResultBody = z.looseObject({
  id: z.string(),
  mode: z.literal('llm'),
  model: z.string(),
  kbVersion: z.string(),
  abstained: z.boolean(),
  samples: z.array(z.looseObject({ code: z.string(), tokens, latencyMs: z.number() })),
  retrieval: z.looseObject({
    cwes: z.array(z.looseObject({ cwe: z.string(), node: z.string(), score: z.number() })),
    example: z.looseObject({ id: z.string(), cwe: z.string(), score: z.number() }).optional(),
    guidanceCwes: z.array(z.string()),
    apis: z.array(z.string()),
    cause: z.string(),
  }),
  analysisMs: z.number(),
  tokens,
});

const TaskError = z.object({ class: z.string(), message: z.string() });

export const BatchResultItemBody = z.discriminatedUnion('status', [
  z.object({ id: z.string(), status: z.literal('done'), result: GenerationResultBody }),
  z.object({ id: z.string(), status: z.literal('failed'), error: TaskError }),
  z.object({ id: z.string(), status: z.enum(['pending', 'cancelled']) }),
]);

export const BatchResultsPage = z.object({
  items: z.array(BatchResultItemBody),
  nextCursor: z.string().optional().describe('Absent on the last page'),
});

export const RetryFailedBody = z.object({ retried: z.number().int(), round: z.number().int() });

/** KbManifest (libs/knowledge): the fields callers rely on; the rest is the KB's own business. */
export const KbManifestBody = z.looseObject({
  version: z.string(),
  createdAt: z.string(),
  clusterBy: z.string(),
  counts: z.looseObject({ nodes: z.number().int(), catalogOnlyNodes: z.number().int(), examples: z.number().int(), records: z.number().int(), documents: z.number().int().optional() }),
  embedder: z.record(z.string(), z.unknown()),
  distillation: z.looseObject({ mode: z.string(), model: z.string().optional(), llmCalls: z.number().int(), llmCallsCached: z.number().int() }),
  slicer: z.looseObject({ version: z.string(), hops: z.number().int() }),
});

const StageProgressBody = z.object({ total: z.number().int(), waiting: z.number().int(), active: z.number().int(), completed: z.number().int(), failed: z.number().int() });

/** POST /v1/kb/builds and GET /v1/kb/builds/{id}. */
export const KbBuildStatusBody = z.object({
  id: z.string(),
  status: z.enum(['queued', 'running', 'published', 'failed', 'unknown']),
  createdAt: z.string(),
  stages: z
    .object({ ingest: StageProgressBody.optional(), slice: StageProgressBody.optional(), summarize: StageProgressBody.optional(), index: StageProgressBody.optional() })
    .describe('Jobs per stage, in pipeline order; a stage not planned yet is absent'),
  ingest: z.looseObject({ linesRead: z.number().int(), kept: z.number().int(), duplicates: z.number().int(), rejected: z.number().int() }).optional(),
  clusters: z.number().int().optional(),
  version: z.string().optional().describe('The published version'),
  manifest: KbManifestBody.optional(),
  error: z.string().optional(),
  warnings,
});

/** GET /v1/kb/versions. */
export const KbVersionsBody = z.object({
  current: z.string().optional(),
  versions: z.array(
    z.object({
      version: z.string(),
      createdAt: z.string(),
      counts: KbManifestBody.shape.counts,
      distillation: KbManifestBody.shape.distillation,
      current: z.boolean(),
    }),
  ),
});

/** POST /v1/kb/versions/{version}/publish. */
export const KbPublishBody = z.object({ current: z.string(), previous: z.string().optional() });
