import { z } from 'zod';
import { GenerationBatchQuery, GenerationBatchRequest, KbBuildRequest, KbBuildUploadQuery } from '@rescue/contracts';
import { RetrieveRequestSchema } from '../retrieve-request';
import { type ResponseDoc, type RouteDoc, jsonSchemaOf } from './route-docs';
import { BatchResultItemBody, BatchResultsPage, BatchStatusBody, BatchSubmitBody, KbBuildStatusBody, KbPublishBody, KbVersionsBody, RetryFailedBody } from './job-schemas';
import { AnyObject, ErrorBody, HealthBody, RetrieveResponse } from './schemas';

const error = (description: string, headers?: Record<string, string>): ResponseDoc => ({ description, schema: ErrorBody, ...(headers ? { headers } : {}) });

/** The answers every route under a key can give before its handler runs (auth middleware, limits, guard). */
const guarded = {
  401: error('No key, or an unknown one (when API_KEYS is set)'),
  403: error("The key lacks this route's scope"),
  429: error("Over the key's requests per minute (API_RATE_LIMIT_PER_MINUTE)", { 'Retry-After': 'Seconds until the budget allows another request' }),
};
const withBody = {
  408: error('The body did not arrive within API_BODY_DEADLINE_MS (JSON), or an upload stopped for that long'),
  413: error('The JSON body is over API_BODY_LIMIT_BYTES'),
};
const needsRedis = { 503: error('Redis (the job queue) is unreachable; retry later', { 'Retry-After': 'Seconds to wait' }) };
const notFound = { 404: error('No such batch, build or version') };

/**
 * Every route the API serves, described from the zod schemas that validate it (the job routes'
 * requests from libs/contracts). A route added to a controller must be added here too: the
 * OpenAPI test fails on any served route this list does not document.
 */
export const API_ROUTES: RouteDoc[] = [
  {
    method: 'post',
    path: '/v1/retrieve',
    tag: 'retrieval',
    summary: 'The security context for one coding task: likely CWEs, guidelines and a secure example (offline mode)',
    scopes: ['retrieve'],
    body: { schema: RetrieveRequestSchema },
    responses: {
      200: { description: 'The retrieval, and the KB version that answered it', schema: RetrieveResponse },
      400: error('Invalid request: every bad field in `problems`'),
      ...guarded,
      ...withBody,
      503: error('No KB configured or openable, the retrieval queue is full (Retry-After), or the request outlived API_REQUEST_TIMEOUT_MS', { 'Retry-After': 'Seconds to wait, when busy' }),
    },
  },
  { method: 'get', path: '/health/live', tag: 'operations', summary: 'Liveness: the process answers', responses: { 200: { description: 'Alive', schema: HealthBody } } },
  {
    method: 'get',
    path: '/health/ready',
    tag: 'operations',
    summary: 'Readiness: what the API needs to take traffic is there (see the health controller for the checks)',
    responses: { 200: { description: 'Ready', schema: HealthBody }, 503: { description: 'Not ready; the body says which check failed', schema: HealthBody } },
  },
  {
    method: 'get',
    path: '/metrics',
    tag: 'operations',
    summary: 'Prometheus metrics: HTTP requests, retrieval per level, KB version, queue counts (admin scope unless METRICS_AUTH=none)',
    scopes: ['admin'],
    responses: { 200: { description: 'Prometheus text exposition', media: { type: 'text/plain' } }, ...guarded },
  },
  { method: 'get', path: '/openapi.json', tag: 'operations', summary: 'This document', responses: { 200: { description: 'OpenAPI 3.1', schema: AnyObject } } },
  {
    method: 'get',
    path: '/docs',
    tag: 'operations',
    summary: 'An interactive page for this document (Swagger UI, served by the API itself)',
    responses: { 200: { description: 'HTML', media: { type: 'text/html' } } },
  },

  {
    method: 'post',
    path: '/v1/kb/builds',
    tag: 'kb builds',
    summary: 'Start a KB build from sources on the shared volume (JSON) or an uploaded fix-pair stream (NDJSON, options as query parameters)',
    scopes: ['admin'],
    body: { schema: KbBuildRequest, alsoAccepts: [{ type: 'application/x-ndjson', description: 'Fix pairs, one JSON object a line (docs/generic-fix-pair-format.md)' }] },
    query: KbBuildUploadQuery,
    responses: {
      202: { description: "The build's status; Location says where to follow it", schema: KbBuildStatusBody, headers: { Location: 'The build' } },
      400: error('Invalid request'),
      ...guarded,
      ...withBody,
      ...needsRedis,
    },
  },
  {
    method: 'get',
    path: '/v1/kb/builds/{id}',
    tag: 'kb builds',
    summary: "A build's progress per stage",
    scopes: ['admin'],
    responses: { 200: { description: 'Status', schema: KbBuildStatusBody }, ...notFound, ...guarded, ...needsRedis },
  },
  {
    method: 'get',
    path: '/v1/kb/versions',
    tag: 'kb builds',
    summary: 'The KB versions, and which is live',
    scopes: ['admin'],
    responses: { 200: { description: 'Versions', schema: KbVersionsBody }, ...guarded, ...needsRedis },
  },
  {
    method: 'post',
    path: '/v1/kb/versions/{version}/publish',
    tag: 'kb builds',
    summary: 'Make a version live (publish a new one, or roll back to an older one)',
    scopes: ['admin'],
    responses: { 200: { description: 'The live version and the one before', schema: KbPublishBody }, 400: error('Not a version name'), ...notFound, ...guarded, ...needsRedis },
  },
  {
    method: 'post',
    path: '/v1/generation/batches',
    tag: 'generation',
    summary: 'Submit a generation batch (JSON, or NDJSON tasks with settings as query parameters); Idempotency-Key makes a retried submit create nothing new',
    scopes: ['generate'],
    body: { schema: GenerationBatchRequest, alsoAccepts: [{ type: 'application/x-ndjson', description: 'Tasks, one JSON object a line' }] },
    query: GenerationBatchQuery,
    headers: [{ name: 'Idempotency-Key', description: '1-255 visible ASCII characters; the same key and body return the same batch' }],
    responses: {
      201: { description: 'The new batch, and the first 100 refused tasks (`rejected` counts them all)', schema: BatchSubmitBody, headers: { Location: 'The batch' } },
      200: {
        description: 'The batch an earlier request with the same Idempotency-Key created (Idempotent-Replayed: true)',
        schema: BatchSubmitBody,
        headers: { Location: 'The batch', 'Idempotent-Replayed': 'true' },
      },
      400: error('Invalid request, or no valid task'),
      409: error('The Idempotency-Key was used for another body, or its first request is still being handled'),
      ...guarded,
      ...withBody,
      ...needsRedis,
    },
  },
  {
    method: 'get',
    path: '/v1/generation/batches/{id}',
    tag: 'generation',
    summary: "A batch's status with counts",
    scopes: ['generate'],
    responses: { 200: { description: 'Status', schema: BatchStatusBody }, ...notFound, ...guarded, ...needsRedis },
  },
  {
    method: 'get',
    path: '/v1/generation/batches/{id}/results',
    tag: 'generation',
    summary: "A batch's results: pages (cursor, limit), or a stream with Accept: application/x-ndjson",
    scopes: ['generate'],
    query: z.object({ cursor: z.string().optional(), limit: z.string().optional() }),
    responses: {
      200: {
        description: 'A page of results (JSON), or every result from `cursor` on, one JSON line each (application/x-ndjson)',
        schema: BatchResultsPage,
        media: { type: 'application/x-ndjson', schema: jsonSchemaOf(BatchResultItemBody, 'output') },
      },
      400: error('Invalid cursor or limit'),
      ...notFound,
      ...guarded,
      ...needsRedis,
    },
  },
  {
    method: 'post',
    path: '/v1/generation/batches/{id}/retry-failed',
    tag: 'generation',
    summary: "Re-attempt a batch's failed tasks",
    scopes: ['generate'],
    responses: {
      202: { description: 'How many tasks were re-enqueued, and the round', schema: RetryFailedBody },
      ...notFound,
      409: error('The batch is cancelled or still running'),
      ...guarded,
      ...needsRedis,
    },
  },
  {
    method: 'post',
    path: '/v1/generation/batches/{id}/cancel',
    tag: 'generation',
    summary: 'Cancel a batch: its pending tasks are not generated',
    scopes: ['generate'],
    responses: { 200: { description: 'Status', schema: BatchStatusBody }, ...notFound, ...guarded, ...needsRedis },
  },
];
