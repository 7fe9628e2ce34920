// The slice stage's processor, run by BullMQ in a worker thread (a sandboxed processor): parsing
// and graph building are CPU-bound, and in the worker's own event loop they would stop it from
// renewing job locks, so long batches would stall and run twice.
import type { SandboxedJob } from 'bullmq';
import { JobName, parsePayload } from '@rescue/contracts';
import { type PipelineStores, type SliceBatchResult, openStores, sliceStage } from '@rescue/pipeline';
import { runClassified } from '@rescue/queue';
import { Slicer } from '@rescue/slicing';
import { loadSlicerWorkerConfig } from './slicer-worker.config';

let context: Promise<{ slicer: Slicer; stores: PipelineStores }> | undefined;

// The thread lives as long as the worker's pool keeps it, so its stores stay open with it.
function open(): Promise<{ slicer: Slicer; stores: PipelineStores }> {
  context ??= (async () => {
    const config = loadSlicerWorkerConfig();
    return { slicer: await Slicer.create({ timeBudgetMs: config.SLICER_TIME_BUDGET_MS }), stores: openStores(config) };
  })();
  return context;
}

/**
 * Every failure, opening included (a ConfigError from the settings is as final as bad input), goes
 * through the queue's one mapping. BullMQ's UnrecoverableError carries its name as an own property,
 * so the parent process still recognises it after the error crosses the thread boundary.
 */
export default async function processSliceJob(job: SandboxedJob): Promise<SliceBatchResult> {
  return runClassified(undefined, async () => {
    const payload = parsePayload(JobName.RecordSlice, job.data);
    const { slicer, stores } = await open();
    return sliceStage(payload, { slicer, records: stores.records, slices: stores.slices });
  });
}
