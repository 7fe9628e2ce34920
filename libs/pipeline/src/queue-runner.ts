import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { type FlowJob, type FlowProducer, type Job, QueueEvents } from 'bullmq';
import type { RedisEnv } from '@rescue/config';
import { JOB_QUEUE, type JobName, type JobPayload, type KbBuildSpecInput, type QueueName } from '@rescue/contracts';
import { type IngestReport, type RecordStore, expandSources, fileSha256 } from '@rescue/datasets';
import { InvalidInputError, TransientUpstreamError } from '@rescue/domain';
import { type KbManifest, QuarantineStore, type QuarantineSummary, splitSources, summarizeQuarantine } from '@rescue/knowledge';
import { PipelineQueue, connectRedis, connectionOptions, jobOptionsFor, producerLink, rootFailure, settledJob } from '@rescue/queue';
import { knowledgeOfBuild } from './build-knowledge';
import { KB_BUILD_ROOT, type KbBuildPlan, type PlannedJob, kbBuildStages, planJobs, planKbBuild } from './kb-build-plan';
import { ingestStage } from './stages/ingest.stage';

/**
 * A KB build's jobs after ingest as one BullMQ flow: every job waits for its children (the DAG's
 * fan-in), so the index job runs after every cluster's summarize job, which runs after its
 * records' slice jobs. Every child fails its parent when it fails for good (after its own
 * retries), so a broken build ends failed instead of waiting in `waiting-children` for ever.
 */
export function kbBuildFlow(plan: KbBuildPlan, attempts = 5): FlowJob {
  const toFlow = (job: PlannedJob, child: boolean): FlowJob => ({
    name: job.name,
    queueName: JOB_QUEUE[job.name],
    data: job.data,
    opts: { ...jobOptionsFor(job.name, job.data, attempts), ...(child ? { failParentOnFailure: true } : {}) },
    ...(job.children.length > 0 ? { children: job.children.map((c) => toFlow(c, true)) } : {}),
  });
  return toFlow(planJobs(plan), false);
}

export interface IngestJobResult {
  report: IngestReport;
  rejectsPath: string;
  /** When the job started a KB build: the flow's top job (the DAG's last stage) and the clusters fanned out. */
  build?: { flowJobId: string; clusters: number };
}

export interface IngestJobDeps {
  records: RecordStore;
  flows: FlowProducer;
  /** Rejects go to `<dataDir>/ingest/<job id>/rejects.jsonl`. */
  dataDir: string;
  maxLineBytes: number;
  /** Attempts of each job of the flow. */
  attempts: number;
}

/**
 * The queue runner's root job: the ingest stage, and when the job starts a KB build, the rest of
 * the build (the DAG's fan-out from ingest) added as one flow.
 */
export async function runIngestJob(jobId: string, payload: JobPayload<JobName.DatasetIngest>, deps: IngestJobDeps): Promise<IngestJobResult> {
  const build = payload.build ? await withReleasedIds(payload.build) : undefined;
  const knowledge = build ? await knowledgeOfBuild(build) : undefined;
  const { records, ...result } = await ingestStage(
    {
      sources: payload.sources.map((s) => s.path),
      expectedSha256: Object.fromEntries(payload.sources.map((s) => [s.path, s.sha256])),
      format: payload.format,
      maxLineBytes: deps.maxLineBytes,
      rejectsPath: join(deps.dataDir, 'ingest', jobId, 'rejects.jsonl'),
    },
    // The build's quarantine report goes to its KB folder, as inline: `rescue kb quarantine list` reads it there.
    { records: deps.records, knowledge, ...(build ? { quarantine: { store: new QuarantineStore(build.kbDir), buildId: build.buildId } } : {}) },
  );
  if (!build) return result;
  const plan = planKbBuild(build, records);
  if (plan.clusters.length === 0) throw new InvalidInputError(`build ${build.buildId}: the sources hold no valid fix pair (see ${result.rejectsPath})`);
  const flow = await deps.flows.add(kbBuildFlow(plan, deps.attempts));
  return { ...result, build: { flowJobId: flow.job.id as string, clusters: plan.clusters.length } };
}

/**
 * The build spec with the quarantine ids an operator released in its KB folder (on the volume the
 * workers share), read once when the build starts: the spec travels in every job of the flow, so
 * the summarize and index workers screen with the same releases as the ingest worker did.
 */
async function withReleasedIds<T extends { kbDir: string; releasedIds?: string[] }>(build: T): Promise<T> {
  const released = await new QuarantineStore(build.kbDir).releasedIds();
  if (released.length === 0) return build;
  return { ...build, releasedIds: [...new Set([...(build.releasedIds ?? []), ...released])].sort() };
}

export interface DistributedBuildInput {
  sources: string[];
  kbDir: string;
  catalogPath?: string;
  hops: number;
  clusterBy: 'language-cwe' | 'cwe';
  catalogOnlyNodes: boolean;
  distillation: 'llm' | 'extractive';
  batchSize: number;
  embedder: 'local' | 'llm';
  elasticsearchPrefix?: string;
  /** Paths (as the workers see them) the operator vouches for or distrusts, beyond each source kind's default (docs/kb-poisoning.md). */
  trust?: { trusted: string[]; untrusted: string[] };
  onEvent?: (message: string) => void;
  /** Where a Redis outage's "lost" and "back" lines go (told even when progress events are not). */
  onWarning?: (message: string) => void;
}

export interface DistributedBuildResult {
  buildId: string;
  manifest: KbManifest;
  ingest: { linesRead: number; kept: number; duplicates: number; rejected: number };
  clusters: number;
  /** What the screen held back, as the workers wrote it to the KB folder (`rescue kb quarantine list`). */
  quarantine: QuarantineSummary;
}

export type KbBuildEnqueueInput = Omit<DistributedBuildInput, 'onEvent' | 'onWarning'> & {
  /** Chosen by the caller (the job API records it before enqueueing); a fresh one when absent. */
  buildId?: string;
  /** Paths (as the workers see them) the operator vouches for: the build spec's `trust`. */
  trust?: KbBuildSpecInput['trust'];
};

/** A new build id: letters and digits, time-ordered, never all digits (a BullMQ job id rule). */
export const newBuildId = (): string => `b${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;

/**
 * Starts a distributed KB build without waiting for it: the sources (files, folders, CodeQL
 * checkouts on a volume the workers share) are expanded and hashed, and the build's root job is
 * enqueued with the whole build spec. The CLI (`runDistributedBuild`) and the job API both start
 * builds here. Returns the ingest job's id: its return value names the flow that publishes.
 */
export async function enqueueKbBuild(queue: PipelineQueue, input: KbBuildEnqueueInput): Promise<{ buildId: string; ingestJobId: string; sources: { path: string; sha256: string }[] }> {
  const { fixPairSources, codeqlRoots } = await splitSources(input.sources);
  const { files, problems } = await expandSources(fixPairSources);
  if (problems.length > 0) throw new InvalidInputError(problems.map((p) => `${p.path}: ${p.message}`).join('; '));
  if (files.length === 0) throw new InvalidInputError(`no fix-pair file among the sources (${input.sources.join(', ')}): name JSONL files or folders holding them`);
  const sources = await Promise.all(files.map(async (f) => ({ path: resolve(f), sha256: await fileSha256(f) })));
  const buildId = input.buildId ?? newBuildId();
  const build: KbBuildSpecInput = {
    buildId,
    hops: input.hops,
    clusterBy: input.clusterBy,
    kbDir: resolve(input.kbDir),
    catalogPath: input.catalogPath ? resolve(input.catalogPath) : undefined,
    catalogOnlyNodes: input.catalogOnlyNodes,
    codeqlRoots: codeqlRoots.map((r) => resolve(r)),
    distillation: input.distillation,
    batchSize: input.batchSize,
    embedder: input.embedder,
    elasticsearchPrefix: input.elasticsearchPrefix,
    trust: input.trust,
  };
  const job = await queue.enqueue(KB_BUILD_ROOT, { v: 1, sources, format: 'auto', build });
  return { buildId, ingestJobId: job.jobId, sources };
}

/**
 * `rescue kb build --distributed`: enqueues the build's root job (sources by path and content
 * hash, on a volume the workers share), then waits for the flow it adds, whose top job publishes
 * the version.
 */
export async function runDistributedBuild(
  config: Pick<RedisEnv, 'REDIS_URL' | 'QUEUE_PREFIX'> & Partial<Pick<RedisEnv, 'QUEUE_WAIT_TIMEOUT_MS'>>,
  input: DistributedBuildInput,
): Promise<DistributedBuildResult> {
  const stages = kbBuildStages();
  const first = JOB_QUEUE[KB_BUILD_ROOT];
  const last = JOB_QUEUE[stages[stages.length - 1]];
  const redis = await connectRedis('producer', config.REDIS_URL);
  // A Redis outage mid-build is one "lost" and one "back" line, not a stack per reconnect.
  const link = producerLink(config.REDIS_URL, (line) => (input.onWarning ?? input.onEvent)?.(line));
  const queue = new PipelineQueue(redis, config.QUEUE_PREFIX).reportTo(link);
  const eventsOf = (name: QueueName): QueueEvents => {
    const events = new QueueEvents(name, { connection: connectionOptions('worker', config.REDIS_URL) as never, prefix: config.QUEUE_PREFIX });
    link.watch(events, `queue events ${name}`);
    return events;
  };
  const events = { first: eventsOf(first), last: eventsOf(last) };
  try {
    await Promise.all([events.first.waitUntilReady(), events.last.waitUntilReady()]);
    const { buildId, ingestJobId } = await enqueueKbBuild(queue, input);
    input.onEvent?.(`build ${buildId}: ingest job ${ingestJobId} enqueued`);
    // Watched waits: no worker on a stage, Redis data lost or Redis down end the build, saying what to do.
    const watch = { timeoutMs: config.QUEUE_WAIT_TIMEOUT_MS };
    const ingest = await succeeded(queue, first, ingestJobId, events.first, watch);
    const ingestResult = ingest.returnvalue as { report: DistributedBuildResult['ingest']; build: NonNullable<IngestJobResult['build']> };
    input.onEvent?.(`build ${buildId}: ${ingestResult.report.kept} records in ${ingestResult.build.clusters} clusters; ${stages.slice(1).join(', ')} jobs enqueued`);
    const published = await succeeded(queue, last, ingestResult.build.flowJobId, events.last, watch);
    const quarantine = new QuarantineStore(resolve(input.kbDir));
    return {
      buildId,
      manifest: published.returnvalue as KbManifest,
      ingest: ingestResult.report,
      clusters: ingestResult.build.clusters,
      quarantine: summarizeQuarantine((await quarantine.report())?.entries ?? [], quarantine.reportPath),
    };
  } finally {
    // First: its probe must not keep the process alive should a close fail.
    link.stop();
    await Promise.all([events.first.close(), events.last.close(), queue.close()]);
    redis.disconnect();
  }
}

async function succeeded(queue: PipelineQueue, name: QueueName, jobId: string, events: QueueEvents, watch: { timeoutMs?: number }): Promise<Job> {
  const job = await settledJob(queue.queue(name), jobId, events, watch);
  if ((await job.getState()) !== 'completed') {
    const reason = await rootFailure(job, async (queueName, id) => queue.queue(queueName as QueueName).getJob(id));
    // The workers' failure, after their own retries: upstream of this process. Its reason (the first
    // failed job's message) says whether rerunning can help; the exit code is 1 either way.
    throw new TransientUpstreamError(`${name} job ${jobId} failed: ${reason}`);
  }
  return job;
}
