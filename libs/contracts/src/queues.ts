// DO NOT CHANGE the string values of QueueName or JobName: they are stored in Redis keys and in
// jobs already enqueued. Add new names; retire old ones only after their queues have drained.

/** One queue per pipeline stage. Kebab case, no `:` (BullMQ uses `:` as its key separator). */
export enum QueueName {
  Ingest = 'ingest',
  Slice = 'slice',
  Summarize = 'cluster-summarize',
  Index = 'index',
  Generate = 'generate',
}

/** Subject-first job names. */
export enum JobName {
  DatasetIngest = 'DatasetIngest',
  RecordSlice = 'RecordSlice',
  ClusterSummarize = 'ClusterSummarize',
  KbIndex = 'KbIndex',
  TaskGenerate = 'TaskGenerate',
}

/** Which queue each job goes to. */
export const JOB_QUEUE: Record<JobName, QueueName> = {
  [JobName.DatasetIngest]: QueueName.Ingest,
  [JobName.RecordSlice]: QueueName.Slice,
  [JobName.ClusterSummarize]: QueueName.Summarize,
  [JobName.KbIndex]: QueueName.Index,
  [JobName.TaskGenerate]: QueueName.Generate,
};

/** The worker apps, by their folder name under `apps/`. */
export enum WorkerApp {
  Ingest = 'ingest',
  Slicer = 'slicer',
  ClusterSummarize = 'cluster-summarize',
  Indexer = 'indexer',
  Generator = 'generator',
}

/** Exactly one app consumes each queue; `apps/api` and `apps/cli` only produce. */
export const QUEUE_CONSUMER: Record<QueueName, WorkerApp> = {
  [QueueName.Ingest]: WorkerApp.Ingest,
  [QueueName.Slice]: WorkerApp.Slicer,
  [QueueName.Summarize]: WorkerApp.ClusterSummarize,
  [QueueName.Index]: WorkerApp.Indexer,
  [QueueName.Generate]: WorkerApp.Generator,
};

/** The queues a worker app consumes (derived, so the two maps cannot disagree). */
export function queuesConsumedBy(app: WorkerApp): QueueName[] {
  return (Object.keys(QUEUE_CONSUMER) as QueueName[]).filter((q) => QUEUE_CONSUMER[q] === app);
}
