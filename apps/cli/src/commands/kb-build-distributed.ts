import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { type Job, QueueEvents } from 'bullmq';
import { loadConfig, redisEnv } from '@rescue/config';
import { JobName, type KbBuildSpecInput, QueueName } from '@rescue/contracts';
import { expandSources, fileSha256 } from '@rescue/datasets';
import { InvalidInputError, TransientUpstreamError } from '@rescue/domain';
import { type KbManifest, splitSources } from '@rescue/knowledge';
import { PipelineQueue, connectRedis, connectionOptions, rootFailure, settledJob } from '@rescue/queue';

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
  onEvent?: (message: string) => void;
}

export interface DistributedBuildResult {
  buildId: string;
  manifest: KbManifest;
  ingest: { linesRead: number; kept: number; duplicates: number; rejected: number };
  clusters: number;
}

/**
 * `rescue kb build --distributed`: enqueues the build's ingest job (sources by path and content
 * hash, on a volume the workers share) and waits for the index job the ingest worker fans out.
 */
export async function buildDistributed(input: DistributedBuildInput): Promise<DistributedBuildResult> {
  const config = loadConfig(redisEnv);
  const redis = await connectRedis('producer', config.REDIS_URL);
  const queue = new PipelineQueue(redis, config.QUEUE_PREFIX);
  const events = {
    ingest: new QueueEvents(QueueName.Ingest, { connection: connectionOptions('worker', config.REDIS_URL) as never, prefix: config.QUEUE_PREFIX }),
    index: new QueueEvents(QueueName.Index, { connection: connectionOptions('worker', config.REDIS_URL) as never, prefix: config.QUEUE_PREFIX }),
  };
  try {
    await Promise.all([events.ingest.waitUntilReady(), events.index.waitUntilReady()]);
    const { fixPairSources, codeqlRoots } = await splitSources(input.sources);
    const { files, problems } = await expandSources(fixPairSources);
    if (problems.length > 0) throw new InvalidInputError(problems.map((p) => `${p.path}: ${p.message}`).join('; '));
    const sources = await Promise.all(files.map(async (f) => ({ path: resolve(f), sha256: await fileSha256(f) })));
    const buildId = `b${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
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
    };
    const ingestJob = await queue.enqueue(JobName.DatasetIngest, { v: 1, sources, format: 'auto', build });
    input.onEvent?.(`build ${buildId}: ingest job ${ingestJob.jobId} enqueued`);
    const ingest = await succeeded(queue, QueueName.Ingest, ingestJob.jobId, events.ingest);
    const ingestResult = ingest.returnvalue as { report: DistributedBuildResult['ingest']; build: { kbIndexJobId: string; clusters: number } };
    input.onEvent?.(`build ${buildId}: ${ingestResult.report.kept} records in ${ingestResult.build.clusters} clusters; slicing, summarizing and indexing`);
    const index = await succeeded(queue, QueueName.Index, ingestResult.build.kbIndexJobId, events.index);
    return { buildId, manifest: index.returnvalue as KbManifest, ingest: ingestResult.report, clusters: ingestResult.build.clusters };
  } finally {
    await Promise.all([events.ingest.close(), events.index.close(), queue.close()]);
    redis.disconnect();
  }
}

async function succeeded(queue: PipelineQueue, name: QueueName, jobId: string, events: QueueEvents): Promise<Job> {
  const job = await settledJob(queue.queue(name), jobId, events);
  if ((await job.getState()) !== 'completed') {
    const reason = await rootFailure(job, async (queueName, id) => queue.queue(queueName as QueueName).getJob(id));
    // The workers' failure, after their own retries: upstream of this process. Its reason (the first
    // failed job's message) says whether rerunning can help; the exit code is 1 either way.
    throw new TransientUpstreamError(`${name} job ${jobId} failed: ${reason}`);
  }
  return job;
}
