import { createHash } from 'node:crypto';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { BadRequestException, PayloadTooLargeException } from '@nestjs/common';
import { GenerationTaskInput } from '@rescue/contracts';
import type { CodingTask } from '@rescue/datasets';
import { MAX_TASK_LINE_BYTES } from '@rescue/datasets';

/** A task the submit refused: where it was (`tasks.3` or `line 4`), the field, and why. */
export interface RejectedTask {
  at: string;
  field: string;
  message: string;
}

export interface CheckedTasks {
  tasks: CodingTask[];
  rejected: RejectedTask[];
}

/**
 * Checks each task on its own, so one bad task costs only itself: the valid tasks form the batch and
 * the bad ones come back with their place, field and reason. Ids must be unique (they key results).
 */
export function checkTasks(items: { at: string; value: unknown }[]): CheckedTasks {
  const tasks: CodingTask[] = [];
  const rejected: RejectedTask[] = [];
  const seen = new Map<string, string>();
  for (const { at, value } of items) {
    const parsed = GenerationTaskInput.safeParse(value);
    if (!parsed.success) {
      for (const i of parsed.error.issues) rejected.push({ at, field: i.path.join('.') || '(task)', message: i.message });
      continue;
    }
    const first = seen.get(parsed.data.id);
    if (first !== undefined) {
      rejected.push({ at, field: 'id', message: `id ${JSON.stringify(parsed.data.id)} was already used at ${first}; ids must be unique in a batch` });
      continue;
    }
    seen.set(parsed.data.id, at);
    tasks.push(parsed.data);
  }
  return { tasks, rejected };
}

/**
 * Reads an NDJSON body (one task per line) as it streams in, with the sha256 of its bytes (for the
 * idempotency check). Stops with 413 past `maxBytes`; a line that is not JSON is a rejected task.
 */
export async function readNdjsonTasks(body: Readable, maxBytes: number): Promise<{ items: { at: string; value: unknown }[]; unreadable: RejectedTask[]; bodyHash: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  body.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    hash.update(chunk);
    if (bytes > maxBytes) body.destroy(new PayloadTooLargeException(`the body is larger than GENERATION_SUBMIT_MAX_BYTES (${maxBytes} bytes): split the batch`));
  });
  const items: { at: string; value: unknown }[] = [];
  const unreadable: RejectedTask[] = [];
  let lineNo = 0;
  for await (const line of createInterface({ input: body, crlfDelay: Infinity })) {
    lineNo += 1;
    if (!line.trim()) continue;
    const at = `line ${lineNo}`;
    if (Buffer.byteLength(line) > MAX_TASK_LINE_BYTES) {
      unreadable.push({ at, field: '(line)', message: `over the ${MAX_TASK_LINE_BYTES}-byte limit for a task` });
      continue;
    }
    try {
      items.push({ at, value: JSON.parse(line) as unknown });
    } catch (err) {
      if (!(err instanceof SyntaxError)) throw err;
      unreadable.push({ at, field: '(line)', message: `not JSON (${err.message}); each line must be one JSON object` });
    }
  }
  if (lineNo === 0) throw new BadRequestException('the body holds no task: send one JSON task per line');
  return { items, unreadable, bodyHash: hash.digest('hex') };
}
