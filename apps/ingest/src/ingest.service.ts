import { join } from 'node:path';
import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import type { Redis } from 'ioredis';
import type { JobPayload, JobName } from '@rescue/contracts';
import { type IngestReport, type RecordStore, createRecordStore, runIngest } from '@rescue/datasets';
import { connectRedis } from '@rescue/queue';
import { INGEST_CONFIG } from './tokens';
import type { IngestWorkerConfig } from './ingest-worker.config';

export interface IngestJobResult {
  report: IngestReport;
  rejectsPath: string;
}

/** Runs one ingest job: the same run as `rescue kb ingest`, into the configured record store. */
@Injectable()
export class IngestService implements OnModuleDestroy {
  private store?: Promise<{ store: RecordStore; redis?: Redis }>;

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
    return runIngest({
      sources: payload.sources.map((s) => s.path),
      expectedSha256: Object.fromEntries(payload.sources.map((s) => [s.path, s.sha256])),
      format: payload.format,
      maxLineBytes: this.config.INGEST_MAX_LINE_BYTES,
      store,
      rejectsPath: join(this.config.RESCUE_DATA_DIR, 'ingest', jobId, 'rejects.jsonl'),
    });
  }

  async onModuleDestroy(): Promise<void> {
    if (!this.store) return;
    const { store, redis } = await this.store;
    await store.close();
    redis?.disconnect();
  }
}
