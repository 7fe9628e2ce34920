import { setTimeout as delay } from 'node:timers/promises';
import type { Client } from '@elastic/elasticsearch';
import { elasticModule } from './elastic-module';
import { InvalidInputError } from '@rescue/domain';

/**
 * How bulk writes are sent: the options of the client's bulk helper (`client.helpers.bulk`,
 * @elastic/elasticsearch 8.x lib/helpers.js), with our defaults.
 */
export interface BulkPolicy {
  /**
   * A bulk request is sent once its NDJSON reaches this many bytes (helper `flushBytes`; default
   * 5 MB, where Elastic advises starting). A request therefore holds at most this plus one
   * document, far below the 100 MB `http.max_content_length` that ES answers with 413, even when a
   * language-neutral node's `doc_terms` holds every text known about its CWE.
   */
  flushBytes?: number;
  /** Bulk requests in flight at once (helper `concurrency`; default 1: a publish shares the cluster with live searches). */
  concurrency?: number;
  /**
   * Resends of an item answered 429 before it counts as failed (helper `retries`; default 4, so 5
   * sends in all). The same bound applies to a whole request refused with 429.
   */
  retries?: number;
  /** Milliseconds before each resend (helper `wait`, a fixed wait; default 1000). */
  wait?: number;
}

const DEFAULT_POLICY: Required<BulkPolicy> = { flushBytes: 5_000_000, concurrency: 1, retries: 4, wait: 1000 };

/** The policy with defaults filled in. @throws InvalidInputError for a value out of range. */
export function bulkPolicyOf(policy: BulkPolicy = {}): Required<BulkPolicy> {
  const out = { ...DEFAULT_POLICY, ...policy };
  for (const key of ['flushBytes', 'concurrency'] as const) {
    if (!Number.isInteger(out[key]) || out[key] < 1) throw new InvalidInputError(`bulk.${key} must be a positive integer, got ${out[key]}`);
  }
  for (const key of ['retries', 'wait'] as const) {
    if (!Number.isInteger(out[key]) || out[key] < 0) throw new InvalidInputError(`bulk.${key} must be a whole number, got ${out[key]}`);
  }
  return out;
}

/** One document to write: its `_id` and its JSON body. */
export interface BulkDocument {
  id: string;
  doc: unknown;
}

/** A document the helper gave up on. */
export interface BulkDrop {
  id: string;
  status: number;
  /** Elasticsearch's error type, or `too_many_requests` for an item still throttled after the retries. */
  type: string;
  reason: string;
}

/** What one {@link bulkIndex} did besides the documents it indexed. */
export interface BulkOutcome {
  /** Documents not indexed, in the order the helper dropped them. */
  dropped: BulkDrop[];
  /** Documents resent after a 429 (of an item, or of the whole request). */
  retried: number;
}

/**
 * Indexes `docs` into `index` with `_id` = document id through `index` operations, so a rerun
 * overwrites instead of duplicating, using the client's bulk helper:
 * - the helper resends items answered 429 (the node's write queue was full) after `wait`, up to
 *   `retries` times; an item refused with any other status (mapping, parsing, dims) would fail the
 *   same way again, so the helper drops it at once, with its status and ES's error;
 * - an item still throttled after the retries is dropped with status 429 and no error (the helper
 *   reports none for it), and becomes a `too_many_requests` drop here;
 * - a request the cluster refuses as a whole (an HTTP error, not per-item statuses) ends the helper's
 *   run with that error; the transport has already retried 502/503/504 and lost connections as the
 *   client's `maxRetries` says. A whole request refused with 429 (the coordinating node's indexing
 *   pressure) is the same condition as an item 429, which the helper does not retry, so the run is
 *   repeated, at most `retries` times after `wait`: the fixed `_id`s make a repeated run harmless.
 *
 * Drops are returned, not thrown: the caller decides whether a drop fails its write.
 *
 * @throws the client's error when a request fails as a whole for any other reason, or still with 429.
 */
export async function bulkIndex(client: Client, index: string, docs: readonly BulkDocument[], policy: Required<BulkPolicy>): Promise<BulkOutcome> {
  let resent = 0;
  for (let run = 0; ; run += 1) {
    const dropped: BulkDrop[] = [];
    try {
      const stats = await client.helpers.bulk<BulkDocument>({
        datasource: [...docs],
        // [action, body]: the helper sends `doc` as the source, not our wrapper.
        onDocument: (d) => [{ index: { _id: d.id } }, d.doc],
        onDrop: (drop) => dropped.push(toDrop(drop.operation, drop.status, drop.error, policy.retries)),
        // The index in the path, not in each action: one target per run.
        index,
        flushBytes: policy.flushBytes,
        concurrency: policy.concurrency,
        retries: policy.retries,
        wait: policy.wait,
      });
      // The helper's `retry` counts NDJSON lines resent (helpers.js adds the retry body's length),
      // two per index operation.
      return { dropped, retried: resent + stats.retry / 2 };
    } catch (err) {
      if (!(err instanceof elasticModule().errors.ResponseError && err.statusCode === 429) || run >= policy.retries) throw err;
      resent += docs.length;
      await delay(policy.wait);
    }
  }
}

function toDrop(operation: unknown, status: number, error: { type?: string; reason?: string | null } | null, retries: number): BulkDrop {
  const id = idOf(operation);
  if (status === 429) {
    return { id, status, type: error?.type ?? 'too_many_requests', reason: `still throttled after ${retries + 1} attempts${error?.reason ? `: ${error.reason}` : ''}` };
  }
  return { id, status, type: error?.type ?? 'unknown', reason: error?.reason ?? `status ${status}` };
}

/** The `_id` of a dropped `index` action (the helper hands back the action as sent). */
function idOf(operation: unknown): string {
  const action = Array.isArray(operation) ? (operation[0] as unknown) : operation;
  const id = (action as { index?: { _id?: unknown } } | null | undefined)?.index?._id;
  return typeof id === 'string' ? id : String(id);
}
