import { FlowProducer, type Job, type JobNode } from 'bullmq';
import type { Redis } from 'ioredis';
import { JOB_QUEUE, JobName, type QueueName } from '@rescue/contracts';
import { NotFoundError } from '@rescue/domain';
import type { KbManifest } from '@rescue/knowledge';
import { type PipelineQueue, rootFailure } from '@rescue/queue';
import { type KbBuildStage, STAGE_NAME } from './inline-runner';
import { KB_BUILD_ROOT, type KbBuildJob, kbBuildStages } from './kb-build-plan';
import { type KbBuildEnqueueInput, enqueueKbBuild } from './queue-runner';
import { unconsumedQueueWarnings } from './worker-presence';

// KB builds started over the job API: each is recorded in Redis beside the queue (its ingest job,
// and once it has ended, its outcome), because the queue trims completed jobs after an hour and
// the caller may ask later than that.

export interface StageProgress {
  total: number;
  waiting: number;
  active: number;
  completed: number;
  failed: number;
}

export interface KbBuildStatus {
  id: string;
  status: 'queued' | 'running' | 'published' | 'failed' | 'unknown';
  createdAt: string;
  /** Jobs per stage, in pipeline order; a stage whose jobs are not planned yet is absent. */
  stages: Partial<Record<KbBuildStage, StageProgress>>;
  ingest?: { linesRead: number; kept: number; duplicates: number; rejected: number };
  clusters?: number;
  /** The published version (also what `CURRENT` points to once published, until another build or a publish moves it). */
  version?: string;
  manifest?: KbManifest;
  error?: string;
  /** Present while a stage's jobs wait in a queue no worker consumes, saying which app to start. */
  warnings?: string[];
}

interface BuildRecord {
  id: string;
  ingestJobId: string;
  createdAt: string;
  final?: KbBuildStatus;
}

const emptyProgress = (): StageProgress => ({ total: 0, waiting: 0, active: 0, completed: 0, failed: 0 });

function count(progress: StageProgress, state: string): void {
  progress.total += 1;
  if (state === 'completed') progress.completed += 1;
  else if (state === 'failed') progress.failed += 1;
  else if (state === 'active') progress.active += 1;
  else progress.waiting += 1;
}

/** Starts KB builds and reports their progress per stage from the jobs of their flow. */
export class KbBuildJobs {
  private readonly flows: FlowProducer;

  constructor(
    private readonly redis: Redis,
    private readonly queue: PipelineQueue,
    private readonly prefix: string,
  ) {
    this.flows = new FlowProducer({ connection: redis, prefix });
  }

  private key(...parts: string[]): string {
    return [this.prefix, 'jobapi', ...parts].join(':');
  }

  async start(input: KbBuildEnqueueInput & { buildId: string }): Promise<KbBuildStatus> {
    const started = await enqueueKbBuild(this.queue, input);
    const record: BuildRecord = { id: started.buildId, ingestJobId: started.ingestJobId, createdAt: new Date().toISOString() };
    await this.redis.multi().set(this.key('kb-build', record.id), JSON.stringify(record)).sadd(this.key('kb-builds', 'open'), record.id).exec();
    return this.status(record.id);
  }

  private async record(id: string): Promise<BuildRecord> {
    const text = /^[A-Za-z0-9_-]{1,64}$/.test(id) ? await this.redis.get(this.key('kb-build', id)) : null;
    if (text === null) throw new NotFoundError(`no KB build ${JSON.stringify(id.slice(0, 70))} (builds are kept as long as Redis keeps them)`);
    return JSON.parse(text) as BuildRecord;
  }

  async status(id: string): Promise<KbBuildStatus> {
    const record = await this.record(id);
    if (record.final) return record.final;
    const status = await this.withWarnings(await this.observe(record));
    if (status.status === 'published' || status.status === 'failed') {
      await this.redis
        .multi()
        .set(this.key('kb-build', id), JSON.stringify({ ...record, final: status }))
        .srem(this.key('kb-builds', 'open'), id)
        .exec();
    }
    return status;
  }

  /** Adds a warning for each stage whose jobs wait in a queue no worker consumes. */
  private async withWarnings(status: KbBuildStatus): Promise<KbBuildStatus> {
    if (status.status !== 'queued' && status.status !== 'running') return status;
    const stages = kbBuildStages();
    const waiting = stages.filter((s) => (status.stages[STAGE_NAME[s]]?.waiting ?? 0) > 0).map((s) => JOB_QUEUE[s]);
    // A queued build has its ingest job waiting even before the flow exists.
    if (status.status === 'queued') waiting.push(JOB_QUEUE[KB_BUILD_ROOT]);
    const warnings = await unconsumedQueueWarnings(this.queue, waiting);
    return warnings.length ? { ...status, warnings } : status;
  }

  /** Looks at every open build, so each one's outcome is recorded before the queue trims its jobs. */
  async settleOpen(): Promise<void> {
    for (const id of await this.redis.smembers(this.key('kb-builds', 'open'))) {
      try {
        await this.status(id);
      } catch (err) {
        if (!(err instanceof NotFoundError)) throw err;
        await this.redis.srem(this.key('kb-builds', 'open'), id);
      }
    }
  }

  private async observe(record: BuildRecord): Promise<KbBuildStatus> {
    const base: KbBuildStatus = { id: record.id, status: 'queued', createdAt: record.createdAt, stages: {} };
    const jobOf = async (queueName: string, jobId: string): Promise<Job | undefined> => this.queue.queue(queueName as QueueName).getJob(jobId);
    const ingest = await this.queue.queue(JOB_QUEUE[KB_BUILD_ROOT]).getJob(record.ingestJobId);
    if (!ingest) return { ...base, status: 'unknown', error: 'the ingest job is no longer in the queue, and the build ended before its outcome was recorded' };
    const ingestState = await ingest.getState();
    const ingestProgress = emptyProgress();
    count(ingestProgress, ingestState);
    base.stages[STAGE_NAME[KB_BUILD_ROOT]] = ingestProgress;
    if (ingestState === 'failed') return { ...base, status: 'failed', error: `${JobName.DatasetIngest} ${ingest.id}: ${ingest.failedReason ?? 'unknown reason'}` };
    if (ingestState !== 'completed') return { ...base, status: ingestState === 'active' ? 'running' : 'queued' };
    const result = ingest.returnvalue as { report: NonNullable<KbBuildStatus['ingest']>; build: { flowJobId: string; clusters: number } };
    const stages = kbBuildStages();
    const last = stages[stages.length - 1] as KbBuildJob;
    const tree = await this.flows.getFlow({ id: result.build.flowJobId, queueName: JOB_QUEUE[last], maxChildren: 100_000 });
    for (const stage of stages.slice(1)) base.stages[STAGE_NAME[stage]] = emptyProgress();
    const walk = async (node: JobNode): Promise<void> => {
      // A child trimmed from its queue after completing is no longer in the tree; it was done.
      if (!node.job) return;
      count(base.stages[STAGE_NAME[node.job.name as KbBuildJob]] as StageProgress, await node.job.getState());
      for (const child of node.children ?? []) await walk(child);
    };
    await walk(tree);
    const top = tree.job;
    const withIngest = { ...base, ingest: result.report, clusters: result.build.clusters };
    if (!top) return { ...withIngest, status: 'unknown', error: "the build's index job is no longer in the queue" };
    const topState = await top.getState();
    if (topState === 'completed') {
      const manifest = top.returnvalue as KbManifest;
      return { ...withIngest, status: 'published', version: manifest.version, manifest };
    }
    if (topState === 'failed') return { ...withIngest, status: 'failed', error: await rootFailure(top, jobOf) };
    return { ...withIngest, status: 'running' };
  }

  async close(): Promise<void> {
    await this.flows.close();
  }
}
