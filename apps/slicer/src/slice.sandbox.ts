// The slice stage's processor, run by BullMQ in a worker thread (a sandboxed processor): parsing
// and graph building are CPU-bound, and in the worker's own event loop they would stop it from
// renewing job locks, so long batches would stall and run twice.
import type { SandboxedJob } from 'bullmq';
import { Redis } from 'ioredis';
import { JobName, parsePayload } from '@rescue/contracts';
import { createRecordStore, type RecordStore } from '@rescue/datasets';
import { type SliceBatchResult, type SliceDocument, Slicer, sliceBatch } from '@rescue/slicing';
import { connectionOptions, runClassified } from '@rescue/queue';
import { loadSlicerWorkerConfig } from './slicer-worker.config';

interface Context {
  slicer: Slicer;
  records: RecordStore;
  slices: RecordStore<SliceDocument>;
}

let context: Promise<Context> | undefined;

function open(): Promise<Context> {
  context ??= (async () => {
    const config = loadSlicerWorkerConfig();
    const redis = config.RECORD_STORE === 'redis' ? new Redis(connectionOptions('worker', config.REDIS_URL)) : undefined;
    const opts = { dataDir: config.RESCUE_DATA_DIR, redis, prefix: config.QUEUE_PREFIX };
    return {
      slicer: await Slicer.create({ timeBudgetMs: config.SLICER_TIME_BUDGET_MS }),
      records: createRecordStore(config.RECORD_STORE, opts),
      slices: createRecordStore<SliceDocument>(config.RECORD_STORE, { ...opts, collection: 'slices' }),
    };
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
    const { slicer, records, slices } = await open();
    return sliceBatch(slicer, payload.recordIds, payload.hops, records, slices);
  });
}
