import { z } from 'zod';
import { taskLanguage } from '@rescue/domain';

/** A retrieval request: one task, as a line of a tasks file, plus the guidance options. */
export const RetrieveRequestSchema = z.object({
  id: z.string().min(1).max(200).default('task'),
  language: z.string().transform((l, ctx) => {
    const language = taskLanguage(l);
    if (!language) ctx.addIssue({ code: z.ZodIssueCode.custom, message: `not a language name: ${JSON.stringify(l.slice(0, 60))} (python, c, cpp, java, csharp, rust, php, …)` });
    return language ?? z.NEVER;
  }),
  prompt: z
    .string()
    .min(1, 'the instruction or the code prefix')
    .max(512 * 1024),
  /** Inferred from the prompt when absent (code prefix or instruction). */
  kind: z.enum(['completion', 'instruction']).optional(),
  guidanceCwes: z.number().int().min(1).max(10).default(1),
  guidanceTokens: z.number().int().min(100).max(32_000).default(1500),
});

export type RetrieveRequest = z.output<typeof RetrieveRequestSchema>;
