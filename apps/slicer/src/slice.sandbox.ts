// The slice stage's processor, run by BullMQ in a worker thread (a sandboxed processor): parsing
// and graph building are CPU-bound, and in the worker's own event loop they would stop it from
// renewing job locks, so long batches would stall and run twice.
import type { SandboxedJob } from 'bullmq';
import { Redis } from 'ioredis';
import { JobName, PayloadError, parsePayload } from '@rescue/contracts';
import { createRecordStore, type RecordStore } from '@rescue/datasets';
import { RescueError } from '@rescue/domain';
import { type SliceBatchResult, type SliceDocument, Slicer, sliceBatch } from '@rescue/slicing';
import { connectionOptions } from '@rescue/queue';
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

/** Bad input must not be retried; the parent process recognises the error by its name. */
function unrecoverable(message: string): Error {
  const err = new Error(message);
  err.name = 'UnrecoverableError';
  return err;
}

export default async function processSliceJob(job: SandboxedJob): Promise<SliceBatchResult> {
  let payload;
  try {
    payload = parsePayload(JobName.RecordSlice, job.data);
  } catch (err) {
    if (err instanceof PayloadError) throw unrecoverable(err.message);
    throw err;
  }
  const { slicer, records, slices } = await open();
  try {
    return await sliceBatch(slicer, payload.recordIds, payload.hops, records, slices);
  } catch (err) {
    if (err instanceof RescueError && (err.kind === 'invalid-input' || err.kind === 'unsupported')) throw unrecoverable(err.message);
    throw err;
  }
}
