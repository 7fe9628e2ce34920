import { z } from 'zod';

/**
 * The error bodies the API answers with. Nest's shape (`statusCode`, `message`, `error`); a 400 from
 * request validation carries `problems` (every bad field) instead of the status and kind.
 */
export const ErrorBody = z.object({
  statusCode: z.number().int().optional(),
  message: z.union([z.string(), z.array(z.string())]),
  error: z.string().optional(),
  problems: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
});

/** What POST /v1/retrieve answers (OfflineRetrieval from libs/generation, and the KB version that served it). */
export const RetrieveResponse = z.object({
  id: z.string(),
  mode: z.literal('offline'),
  abstained: z.boolean(),
  relevance: z.object({ score: z.number(), threshold: z.number(), lexical: z.number(), terms: z.number().int(), agreement: z.number() }).optional(),
  cwes: z.array(z.object({ cwe: z.string(), node: z.string(), score: z.number(), facets: z.record(z.string(), z.unknown()) })),
  guidelines: z.array(z.string()),
  moreGuidance: z.array(z.object({ cwe: z.string(), name: z.string().optional(), guidelines: z.array(z.string()) })).optional(),
  example: z.object({ id: z.string(), cwe: z.string(), language: z.string(), code: z.string(), sourceUrl: z.string().optional(), score: z.number() }).optional(),
  kbVersion: z.string(),
});

/** Probe answers: `status` and whatever each check reports (owned by the health controller). */
export const HealthBody = z.looseObject({ status: z.string() });

/** An answer this document does not describe field by field (the OpenAPI document itself). */
export const AnyObject = z.looseObject({});
