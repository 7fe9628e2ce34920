import { z } from 'zod';
import { taskLanguage } from '@rescue/domain';
import { KbBuildSpec, TaskGeneratePayload } from './payloads';

// What upstream services send to the job API (apps/api): built from the queue's own schemas, so a
// build option or a generation setting is declared once and means the same over HTTP and in a job.

/** The build options a caller may set: the queue's KbBuildSpec without what the API decides (ids, paths, trust). */
export const KbBuildOptions = KbBuildSpec.pick({ hops: true, clusterBy: true, catalogOnlyNodes: true, distillation: true, batchSize: true, embedder: true, elasticsearchPrefix: true });

const relativeSource = z
  .string()
  .min(1)
  .max(1024)
  .refine((p) => !p.includes('\0'), 'a path holds no NUL byte');

/**
 * `POST /v1/kb/builds` with a JSON body: sources named relative to the API's KB_SOURCES_ROOT (a
 * volume the workers share); the API refuses any path that resolves outside it.
 */
export const KbBuildRequest = KbBuildOptions.extend({
  /** Fix-pair JSONL files or folders, and CodeQL checkouts, under KB_SOURCES_ROOT. */
  sources: z.array(relativeSource).min(1).max(1000),
  /** A MITRE CWE catalogue (CSV, XML or XML zip) under KB_SOURCES_ROOT. */
  catalog: relativeSource.optional(),
}).strict();

/** The options of a build from an uploaded JSONL stream, given as query parameters. */
export const KbBuildUploadQuery = z
  .object({
    hops: z.coerce.number().int().min(0).max(10).default(2),
    clusterBy: KbBuildSpec.shape.clusterBy,
    catalogOnlyNodes: z
      .enum(['true', 'false'])
      .default('true')
      .transform((v) => v === 'true'),
    distillation: KbBuildSpec.shape.distillation,
    batchSize: z.coerce.number().int().min(2).max(50).default(10),
    embedder: KbBuildSpec.shape.embedder,
    elasticsearchPrefix: KbBuildSpec.shape.elasticsearchPrefix,
    catalog: relativeSource.optional(),
  })
  .strict();

/** One coding task of a batch: a line of a tasks file, as `rescue generate` reads it. */
export const GenerationTaskInput = z.object({
  id: z.string().trim().min(1, "a non-empty id (it keys the task's result)").max(200),
  language: z.string().transform((l, ctx) => {
    const language = taskLanguage(l);
    if (!language) ctx.addIssue({ code: 'custom', message: `not a language name: ${JSON.stringify(l.slice(0, 60))} (python, c, cpp, java, csharp, rust, php, …)` });
    return language ?? z.NEVER;
  }),
  prompt: z
    .string()
    .refine((p) => p.trim().length > 0, 'the instruction or the code prefix')
    .pipe(z.string().max(512 * 1024)),
  kind: z.enum(['completion', 'instruction']).optional(),
});

/** How a batch's tasks are generated: the queue payload's own settings. */
export const GenerationBatchSettings = TaskGeneratePayload.pick({ samples: true, style: true, temperature: true, guidanceCwes: true, guidanceTokens: true }).extend({
  /** Called once the batch has settled (and again after each re-attempt of its failed tasks). */
  webhookUrl: z
    .string()
    .max(2048)
    .url()
    .refine((u) => /^https?:$/.test(new URL(u).protocol), 'an http or https URL')
    .refine((u) => !new URL(u).username && !new URL(u).password, 'a URL without credentials (the request is signed instead)')
    .optional(),
});

/** `POST /v1/generation/batches` with a JSON body. Tasks are checked one by one (GenerationTaskInput), so one bad task does not lose the rest. */
export const GenerationBatchRequest = GenerationBatchSettings.extend({
  tasks: z.array(z.unknown()).min(1).max(100_000),
}).strict();

/** The settings of an NDJSON submit (one task per line in the body), as query parameters. */
export const GenerationBatchQuery = z
  .object({
    samples: z.coerce.number().int().min(1).max(100).default(1),
    style: z.enum(['chat', 'completion']).default('chat'),
    temperature: z.coerce.number().min(0).max(2).default(0.2),
    guidanceCwes: z.coerce.number().int().min(1).max(10).default(1),
    guidanceTokens: z.coerce.number().int().min(100).max(32_000).default(1500),
    webhookUrl: GenerationBatchSettings.shape.webhookUrl,
  })
  .strict();

export type KbBuildOptionsValue = z.output<typeof KbBuildOptions>;
export type GenerationTask = z.output<typeof GenerationTaskInput>;
export type GenerationBatchSettingsValue = z.output<typeof GenerationBatchSettings>;
