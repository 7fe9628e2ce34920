import { createHash } from 'node:crypto';
import { canonicalJson } from '@rescue/domain';
import { JobName } from './queues';

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
