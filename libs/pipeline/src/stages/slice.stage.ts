import pMap from 'p-map';
import type { JobName, JobPayload } from '@rescue/contracts';
import type { RecordStore } from '@rescue/datasets';
import { NotFoundError, type FixRecord } from '@rescue/domain';
import { type RecordSlicer, type SliceDocument, SliceFailure, isLasting, sliceId } from '@rescue/slicing';

export interface SliceStageDeps {
  /** A Slicer (this thread) or a SlicerPool (worker threads: as many records at once as it has threads). */
  slicer: RecordSlicer;
  records: RecordStore;
  slices: RecordStore<SliceDocument>;
}

export interface SliceBatchResult {
  sliced: number;
  failed: number;
  /** Slices already in the store (same record, slicer version and hops): not redone. */
  alreadyStored: number;
  failuresByClass: Record<string, number>;
}

/**
 * The slice stage: a batch of stored records sliced into the slice store. Idempotent: a slice id
 * is a hash of the record id, the slicer version and h, so a retried or repeated batch redoes
 * nothing. A record missing from the record store fails the batch after the others are stored.
 *
 * With a SlicerPool the records are sliced several at once; their outcomes are still taken in the
 * batch's order, so the store receives the same documents in the same order whatever finishes first.
 *
 * Only lasting outcomes are stored (a slice, or a failure the input alone decides): a record that
 * hit the wall-clock safety net, or whose pool thread failed, is left out of the store and fails
 * the batch, transiently, after the others are stored, so a busy machine can neither publish a KB
 * without that slice nor leave a failure that every later build would reuse.
 */
export async function sliceStage(payload: Pick<JobPayload<JobName.RecordSlice>, 'recordIds' | 'hops'>, deps: SliceStageDeps): Promise<SliceBatchResult> {
  const { recordIds, hops } = payload;
  const result: SliceBatchResult = { sliced: 0, failed: 0, alreadyStored: 0, failuresByClass: {} };
  const missing: string[] = [];
  const notLasting: { recordId: string; failureClass: string }[] = [];
  const todo: FixRecord[] = [];
  // The batch's stored slices and records read together (see RecordStore.getMany).
  const stored = await deps.slices.hasMany(recordIds.map((id) => sliceId(id, hops)));
  const toRead = recordIds.filter((_, i) => !stored[i]);
  result.alreadyStored = recordIds.length - toRead.length;
  const read = await deps.records.getMany(toRead);
  toRead.forEach((recordId, i) => {
    const record = read[i];
    if (record) todo.push(record);
    else missing.push(recordId);
  });
  await deps.slicer.prepare?.(todo.map((r) => r.language));
  // p-map keeps the input's order in its result and at most `concurrency` records in flight.
  const outcomes = await pMap(todo, (record) => deps.slicer.sliceRecord(record, hops), { concurrency: Math.max(1, deps.slicer.concurrency ?? 1) });
  const done: SliceDocument[] = [];
  outcomes.forEach((outcome, i) => {
    const recordId = todo[i].id;
    if (outcome.ok) {
      result.sliced += 1;
      done.push({ status: 'sliced', ...outcome.slice });
    } else if (!isLasting(outcome.failure.failureClass)) {
      notLasting.push({ recordId, failureClass: outcome.failure.failureClass });
    } else {
      result.failed += 1;
      result.failuresByClass[outcome.failure.failureClass] = (result.failuresByClass[outcome.failure.failureClass] ?? 0) + 1;
      done.push({ status: 'failed', id: sliceId(recordId, hops), hops, ...outcome.failure });
    }
  });
  await deps.slices.putMany(done);
  const timedOut = notLasting.filter((r) => r.failureClass === 'timeout').map((r) => r.recordId);
  const threadFailed = notLasting.filter((r) => r.failureClass !== 'timeout').map((r) => r.recordId);
  const some = (ids: string[]): string => `${ids.slice(0, 5).join(', ')}${ids.length > 5 ? ', …' : ''}`;
  if (timedOut.length > 0) {
    throw new SliceFailure(
      'timeout',
      `${timedOut.length} record(s) hit the slicer's wall-clock safety net and were not stored: ${some(timedOut)}; ` +
        "the machine was overloaded (the work budget, not the clock, decides a record's outcome): run the batch again, or raise SLICER_TIME_BUDGET_MS" +
        (threadFailed.length > 0 ? `; and ${threadFailed.length} record(s) lost their slicing thread: ${some(threadFailed)}` : ''),
    );
  }
  if (threadFailed.length > 0) {
    throw new SliceFailure(
      'worker_failed',
      `${threadFailed.length} record(s) lost their slicing thread (it threw or died, e.g. out of memory) and were not stored: ${some(threadFailed)}; run the batch again`,
    );
  }
  if (missing.length > 0) {
    throw new NotFoundError(`${missing.length} record(s) not in the record store: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''}; ingest them first`);
  }
  return result;
}
