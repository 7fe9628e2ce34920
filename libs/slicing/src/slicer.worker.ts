// One thread of a SlicerPool: a Slicer of its own (its own WebAssembly parsers and compiled
// queries), created on the thread's first task and kept for its life.
import { workerData } from 'node:worker_threads';
import type { FixRecord } from '@rescue/domain';
import type { ParseLimits } from './parsers';
import { type SliceOutcome, Slicer } from './slicer';

export interface SliceTask {
  record: FixRecord;
  hops: number;
}

let slicer: Promise<Slicer> | undefined;

export default async function sliceInWorker(task: SliceTask): Promise<SliceOutcome> {
  slicer ??= Slicer.create((workerData as { limits?: Partial<ParseLimits> } | undefined)?.limits ?? {});
  return (await slicer).sliceRecord(task.record, task.hops);
}
