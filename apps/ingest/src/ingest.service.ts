import { join } from 'node:path';
import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { FlowProducer } from 'bullmq';
import type { JobPayload, JobName } from '@rescue/contracts';
import { type IngestReport, type RecordStore, createRecordStore, runIngest } from '@rescue/datasets';
import { type FixRecord, InvalidInputError } from '@rescue/domain';
import { extraKnowledgeOf, groupClusters } from '@rescue/knowledge';
import { connectRedis, connectionOptions, kbBuildFlow } from '@rescue/queue';
import { INGEST_CONFIG } from './tokens';
import type { IngestWorkerConfig } from './ingest-worker.config';

export interface IngestJobResult {
  report: IngestReport;
  rejectsPath: string;
  /** When the job started a KB build: the index job that publishes it, and the clusters fanned out. */
  build?: { kbIndexJobId: string; clusters: number };
}

/** Runs one ingest job: the same run as `rescue kb ingest`, into the configured record store. */
@Injectable()
export class IngestService implements OnModuleDestroy {
  private store?: Promise<{ store: RecordStore; redis?: Redis }>;
  private flows?: FlowProducer;

  constructor(@Inject(INGEST_CONFIG) private readonly config: IngestWorkerConfig) {}

  private openStore(): Promise<{ store: RecordStore; redis?: Redis }> {
    this.store ??= (async () => {
      const redis = this.config.RECORD_STORE === 'redis' ? await connectRedis('worker', this.config.REDIS_URL) : undefined;
      return { redis, store: createRecordStore(this.config.RECORD_STORE, { dataDir: this.config.RESCUE_DATA_DIR, redis, prefix: this.config.QUEUE_PREFIX }) };
    })();
    return this.store;
  }

  async ingest(jobId: string, payload: JobPayload<JobName.DatasetIngest>): Promise<IngestJobResult> {
    const { store } = await this.openStore();
    const kept: FixRecord[] = [];
    const result = await runIngest(
      {
        sources: payload.sources.map((s) => s.path),
        expectedSha256: Object.fromEntries(payload.sources.map((s) => [s.path, s.sha256])),
        format: payload.format,
        maxLineBytes: this.config.INGEST_MAX_LINE_BYTES,
        store,
        rejectsPath: join(this.config.RESCUE_DATA_DIR, 'ingest', jobId, 'rejects.jsonl'),
      },
      { onRecord: (r) => payload.build && kept.push(r) },
    );
    if (!payload.build) return result;
    // CodeQL checkouts and the catalogue's examples add fix pairs to the build, as in the inline runner.
    const extra = await extraKnowledgeOf(payload.build);
    const known = new Set(kept.map((r) => r.id));
    const fresh = extra.records.filter((r) => !known.has(r.id) && known.add(r.id));
    await store.putMany(fresh);
    kept.push(...fresh);
    // The DAG's fan-out: one flow whose index job waits for every cluster, which waits for its slices.
    const clusters = [...groupClusters(kept, payload.build.clusterBy)].map(([key, records]) => ({ key, recordIds: records.map((r) => r.id) }));
    if (clusters.length === 0) throw new InvalidInputError(`build ${payload.build.buildId}: the sources hold no valid fix pair (see ${result.rejectsPath})`);
    this.flows ??= new FlowProducer({ connection: connectionOptions('worker', this.config.REDIS_URL) as never, prefix: this.config.QUEUE_PREFIX });
    const flow = await this.flows.add(kbBuildFlow(payload.build, clusters, this.config.INGEST_ATTEMPTS));
    return { ...result, build: { kbIndexJobId: flow.job.id as string, clusters: clusters.length } };
  }

  async onModuleDestroy(): Promise<void> {
    await this.flows?.close();
    if (!this.store) return;
    const { store, redis } = await this.store;
    await store.close();
    redis?.disconnect();
  }
}
