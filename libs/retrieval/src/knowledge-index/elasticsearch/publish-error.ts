import { RescueError } from '@rescue/domain';
import { COLLECTIONS, type KnowledgeCollection } from './mappings';

/** How many failures an error message names; the full list is on the error. */
const FAILURES_IN_MESSAGE = 5;

/** A document that could not be indexed, or was refused before sending. */
export interface DocumentFailure {
  collection: KnowledgeCollection;
  id: string;
  /** HTTP status of the bulk item; absent for documents refused before sending. */
  status?: number;
  /** Elasticsearch's error type (`document_parsing_exception`, ...), `too_many_requests` for an item still throttled after the retries, or `invalid_document` for local checks. */
  type: string;
  reason: string;
}

/** The step of a publish that failed. */
export type PublishStage = 'validate' | 'prepare' | 'create' | 'bulk' | 'refresh' | 'verify' | 'swap';

/**
 * A publish that did not make its version live. The aliases still point at the previous version, and
 * the half-written indices were deleted unless {@link cleanupError} says otherwise (or, after a swap
 * whose outcome could not be read back, they were left in place on purpose: they may be live).
 *
 * Its kind says whether publishing the same content again can succeed:
 * - `invalid-input` when documents were refused as malformed: by the local checks (`validate`), or
 *   by Elasticsearch in `bulk` with a 4xx other than 429 (mapping, parsing, dims); resending them
 *   fails the same way. Also when the caller says so (a version live with other content).
 * - `transient` otherwise: the cluster did not answer, throttled past the retries (429), answered
 *   5xx, or counts did not match yet; a rerun rebuilds the indices from scratch.
 */
export class KnowledgeIndexPublishError extends RescueError {
  override readonly name = 'KnowledgeIndexPublishError';
  readonly kind: 'invalid-input' | 'transient';
  /** Set when deleting the half-written indices failed too. */
  cleanupError?: unknown;

  constructor(
    readonly version: string,
    readonly stage: PublishStage,
    message: string,
    /** Every failed document, in the order they were given up on (for a dead-letter list). */
    readonly failures: DocumentFailure[] = [],
    options?: { cause?: unknown; kind?: 'invalid-input' | 'transient' },
  ) {
    super(`publish of KB version ${version} failed (${stage}): ${message}`, options);
    this.kind = options?.kind ?? (stage === 'validate' || failures.some(refusedAsMalformed) ? 'invalid-input' : 'transient');
  }
}

/** A document Elasticsearch (or the local check, which sets no status) refused for what it holds, not for load. */
const refusedAsMalformed = (f: DocumentFailure): boolean => (f.status === undefined ? f.type === 'invalid_document' : f.status >= 400 && f.status < 500 && f.status !== 429);

/** `3 document(s) failed: nodes/n3: 400 document_parsing_exception: ...` naming the first few. */
export function describeFailures(failures: DocumentFailure[]): string {
  const named = failures
    .slice(0, FAILURES_IN_MESSAGE)
    .map((f) => `${f.collection}/${f.id}: ${f.status ?? '-'} ${f.type}: ${f.reason}`)
    .join('; ');
  const more = failures.length > FAILURES_IN_MESSAGE ? ` (and ${failures.length - FAILURES_IN_MESSAGE} more)` : '';
  return `${failures.length} document(s) failed: ${named}${more}`;
}

/** `2 nodes, 1 examples, 0 documents`. */
export const describeCounts = (counts: Record<KnowledgeCollection, number | string>): string => COLLECTIONS.map((c) => `${counts[c]} ${c}`).join(', ');
