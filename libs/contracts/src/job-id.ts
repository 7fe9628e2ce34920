import { createHash } from 'node:crypto';
import { JobName } from './queues';

/** JSON with object keys sorted at every level, so equal values hash equally. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    return v;
  });
}

/**
 * The job id for a validated payload: `<JobName>-<first 32 hex of sha256(canonical payload)>`.
 * Deterministic and content-derived, so enqueueing the same work twice is one job while it exists
 * (BullMQ ignores an add with a live id); never contains `:` and is never all digits.
 */
export function jobIdFor(name: JobName, payload: unknown): string {
  const digest = createHash('sha256').update(canonicalJson(payload)).digest('hex').slice(0, 32);
  return `${name}-${digest}`;
}

export const JOB_ID_PATTERN = /^[A-Za-z]+-[0-9a-f]{32}$/;
