import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { FlowProducer } from 'bullmq';
import type { JobName, JobPayload } from '@rescue/contracts';
import { type IngestJobResult, type PipelineStores, openStores, runIngestJob } from '@rescue/pipeline';
import { connectionOptions } from '@rescue/queue';
import { INGEST_CONFIG } from './tokens';
import type { IngestWorkerConfig } from './ingest-worker.config';

/** Runs one ingest job: the same run as `rescue kb ingest`, into the configured record store. */
@Injectable()
export class IngestService implements OnModuleDestroy {
  private readonly stores: PipelineStores;
  private flows?: FlowProducer;

  constructor(@Inject(INGEST_CONFIG) private readonly config: IngestWorkerConfig) {
    this.stores = openStores(config);
  }

  ingest(jobId: string, payload: JobPayload<JobName.DatasetIngest>): Promise<IngestJobResult> {
    this.flows ??= new FlowProducer({ connection: connectionOptions('worker', this.config.REDIS_URL) as never, prefix: this.config.QUEUE_PREFIX });
    return runIngestJob(jobId, payload, {
      records: this.stores.records,
      flows: this.flows,
      dataDir: this.config.RESCUE_DATA_DIR,
      maxLineBytes: this.config.INGEST_MAX_LINE_BYTES,
      attempts: this.config.INGEST_ATTEMPTS,
    });
  }

  async onModuleDestroy(): Promise<void> {
    await this.flows?.close();
    await this.stores.close();
  }
}
