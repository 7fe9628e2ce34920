import { BadRequestException, UnsupportedMediaTypeException } from '@nestjs/common';
import type { z } from 'zod';

/** Parses a request part, or answers 400 with every bad field and its message, as /v1/retrieve does. */
export function parseRequest<S extends z.ZodType>(schema: S, value: unknown, where = ''): z.output<S> {
  const parsed = schema.safeParse(value ?? {});
  if (parsed.success) return parsed.data;
  throw new BadRequestException({
    message: 'invalid request',
    problems: parsed.error.issues.map((i) => ({ field: `${where}${i.path.join('.')}` || '(body)', message: i.message })),
  });
}

export type BodyKind = 'json' | 'ndjson';

const NDJSON = /^application\/(x-ndjson|jsonl|x-jsonlines|json-seq)\b/i;

/** Which body a request sends: JSON (parsed already by the body parser) or a line stream we read ourselves. */
export function bodyKind(contentType: string | undefined): BodyKind {
  if (!contentType || /^application\/json\b/i.test(contentType)) return 'json';
  if (NDJSON.test(contentType)) return 'ndjson';
  throw new UnsupportedMediaTypeException(`Content-Type ${JSON.stringify(contentType.slice(0, 80))} is not accepted: send application/json, or application/x-ndjson (one JSON object per line)`);
}
