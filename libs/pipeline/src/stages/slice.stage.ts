import type { JobName, JobPayload } from '@rescue/contracts';
import type { RecordStore } from '@rescue/datasets';
import { NotFoundError } from '@rescue/domain';
import { type SliceDocument, SliceFailure, type Slicer, isLasting, sliceId } from '@rescue/slicing';

export interface SliceStageDeps {
  slicer: Slicer;
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
 * Only lasting outcomes are stored (a slice, or a failure the input alone decides): a record that
 * hit the wall-clock safety net is left out of the store and fails the batch, transiently, after
 * the others are stored, so a busy machine can neither publish a KB without that slice nor
 * leave a `timeout` that every later build would reuse.
 */
export async function sliceStage(payload: Pick<JobPayload<JobName.RecordSlice>, 'recordIds' | 'hops'>, deps: SliceStageDeps): Promise<SliceBatchResult> {
  const { recordIds, hops } = payload;
  const result: SliceBatchResult = { sliced: 0, failed: 0, alreadyStored: 0, failuresByClass: {} };
  const missing: string[] = [];
  const timedOut: string[] = [];
  const done: SliceDocument[] = [];
  for (const recordId of recordIds) {
    if (await deps.slices.has(sliceId(recordId, hops))) {
      result.alreadyStored += 1;
      continue;
    }
    const record = await deps.records.get(recordId);
    if (!record) {
      missing.push(recordId);
      continue;
    }
    const outcome = await deps.slicer.sliceRecord(record, hops);
    if (outcome.ok) {
      result.sliced += 1;
      done.push({ status: 'sliced', ...outcome.slice });
    } else if (!isLasting(outcome.failure.failureClass)) {
      timedOut.push(recordId);
    } else {
      result.failed += 1;
      result.failuresByClass[outcome.failure.failureClass] = (result.failuresByClass[outcome.failure.failureClass] ?? 0) + 1;
      done.push({ status: 'failed', id: sliceId(recordId, hops), hops, ...outcome.failure });
    }
  }
  await deps.slices.putMany(done);
  if (timedOut.length > 0) {
    throw new SliceFailure(
      'timeout',
      `${timedOut.length} record(s) hit the slicer's wall-clock safety net and were not stored: ${timedOut.slice(0, 5).join(', ')}${timedOut.length > 5 ? ', …' : ''}; ` +
        "the machine was overloaded (the work budget, not the clock, decides a record's outcome): run the batch again, or raise SLICER_TIME_BUDGET_MS",
    );
  }
  if (missing.length > 0) {
    throw new NotFoundError(`${missing.length} record(s) not in the record store: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''}; ingest them first`);
  }
  return result;
}
