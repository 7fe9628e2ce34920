import type { FixRecord } from '@rescue/domain';
import type { RecordSlice, Slicer } from '@rescue/slicing';

/** Slices a record and fails the test with the classified reason when the slicer cannot. */
export async function sliceOrFail(slicer: Slicer, record: FixRecord, hops: number): Promise<RecordSlice> {
  const outcome = await slicer.sliceRecord(record, hops);
  if (!outcome.ok) throw new Error(`slicing failed: ${outcome.failure.failureClass}: ${outcome.failure.message}`);
  return outcome.slice;
}
