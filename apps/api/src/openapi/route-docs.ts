import { z } from 'zod';
import type { Scope } from '../api-keys';

/** A response as documented: its JSON body's zod schema, or a non-JSON media type. */
export interface ResponseDoc {
  description: string;
  /** The body (application/json), as the zod schema that produces or checks it; with `media` too, the route answers either by Accept. */
  schema?: z.ZodType;
  /** For bodies that are not JSON (Prometheus text, HTML, NDJSON): media type and a JSON Schema of one item. */
  media?: { type: string; schema?: Record<string, unknown> };
  headers?: Record<string, string>;
}

/** One route, documented from the same zod schemas that validate it. */
export interface RouteDoc {
  method: 'get' | 'post' | 'put' | 'delete';
  /** OpenAPI path template: `/v1/kb/builds/{id}`. */
  path: string;
  summary: string;
  tag: string;
  /** The key scope(s) it needs (any one); absent: public. */
  scopes?: Scope[];
  body?: { schema: z.ZodType; description?: string; alsoAccepts?: { type: string; description: string }[] };
  query?: z.ZodObject;
  headers?: { name: string; description: string; required?: boolean }[];
  responses: Record<number, ResponseDoc>;
}

/**
 * JSON Schema (2020-12, what OpenAPI 3.1 uses) from a zod schema. Requests are described as
 * callers write them (`io: 'input'`: defaults optional, transforms by their input), responses as
 * the API writes them. What JSON Schema cannot say (a refinement, a transform's logic) is left
 * open rather than failing the document; the zod schema remains the check that runs.
 */
export function jsonSchemaOf(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const out = z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any' }) as Record<string, unknown>;
  delete out.$schema;
  return out;
}

const statusText: Record<number, string> = { 200: 'OK', 201: 'Created', 202: 'Accepted', 204: 'No Content' };

export interface ApiInfo {
  title: string;
  version: string;
  description: string;
}

/** The OpenAPI 3.1 document for `routes`. */
export function buildOpenApiDocument(info: ApiInfo, routes: readonly RouteDoc[]): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const parameters: unknown[] = [];
    for (const match of route.path.matchAll(/\{(\w+)\}/g)) parameters.push({ name: match[1], in: 'path', required: true, schema: { type: 'string' } });
    if (route.query) {
      const shape = jsonSchemaOf(route.query, 'input') as { properties?: Record<string, unknown>; required?: string[] };
      for (const [name, schema] of Object.entries(shape.properties ?? {})) parameters.push({ name, in: 'query', required: (shape.required ?? []).includes(name), schema });
    }
    for (const h of route.headers ?? []) parameters.push({ name: h.name, in: 'header', required: h.required ?? false, description: h.description, schema: { type: 'string' } });
    const responses: Record<string, unknown> = {};
    for (const [status, doc] of Object.entries(route.responses)) {
      // A route may answer JSON and another type by Accept (the results page or its NDJSON stream).
      const types = {
        ...(doc.schema ? { 'application/json': { schema: jsonSchemaOf(doc.schema, 'output') } } : {}),
        ...(doc.media ? { [doc.media.type]: { schema: doc.media.schema ?? { type: 'string' } } } : {}),
      };
      const content = Object.keys(types).length > 0 ? types : undefined;
      responses[status] = {
        description: doc.description || statusText[Number(status)] || 'answer',
        ...(content ? { content } : {}),
        ...(doc.headers ? { headers: Object.fromEntries(Object.entries(doc.headers).map(([name, description]) => [name, { description, schema: { type: 'string' } }])) } : {}),
      };
    }
    const operation: Record<string, unknown> = {
      operationId: `${route.method}${route.path.replace(/[{}]/g, '').replace(/(^|[/-])(\w)/g, (_m, _s, c: string) => c.toUpperCase())}`,
      summary: route.summary,
      tags: [route.tag],
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(route.body
        ? {
            requestBody: {
              required: true,
              ...(route.body.description ? { description: route.body.description } : {}),
              content: {
                'application/json': { schema: jsonSchemaOf(route.body.schema, 'input') },
                ...Object.fromEntries((route.body.alsoAccepts ?? []).map((a) => [a.type, { schema: { type: 'string', description: a.description } }])),
              },
            },
          }
        : {}),
      responses,
      security: route.scopes ? [{ apiKey: route.scopes }] : [],
      ...(route.scopes ? { 'x-scopes': route.scopes } : {}),
    };
    paths[route.path] = { ...paths[route.path], [route.method]: operation };
  }
  return {
    openapi: '3.1.0',
    info,
    paths,
    components: {
      securitySchemes: {
        apiKey: { type: 'http', scheme: 'bearer', description: 'A key from API_KEYS. Its scopes (retrieve, generate, admin) decide which routes it may call.' },
      },
    },
  };
}
