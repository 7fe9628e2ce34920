import { Processor, WorkerHost } from '@nestjs/bullmq';
import { Inject, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import type { Job } from 'bullmq';
import { JobName, QueueName, parsePayload } from '@rescue/contracts';
import type { IngestJobResult } from '@rescue/pipeline';
import { runClassified } from '@rescue/queue';
import { IngestService } from './ingest.service';
import type { IngestWorkerConfig } from './ingest-worker.config';
import { INGEST_CONFIG } from './tokens';

@Processor(QueueName.Ingest)
export class IngestProcessor extends WorkerHost implements OnApplicationBootstrap {
  private readonly logger = new Logger(IngestProcessor.name);

  constructor(
    private readonly ingest: IngestService,
    @Inject(INGEST_CONFIG) private readonly config: IngestWorkerConfig,
  ) {
    super();
  }

  // Decorator arguments are static, so concurrency comes from config once the worker exists.
  onApplicationBootstrap(): void {
    this.worker.concurrency = this.config.INGEST_CONCURRENCY;
  }

  async process(job: Job): Promise<IngestJobResult> {
    return runClassified(this.worker, async () => {
      const payload = parsePayload(JobName.DatasetIngest, job.data);
      const result = await this.ingest.ingest(job.id ?? 'unnamed', payload);
      const r = result.report;
      this.logger.log(`job ${job.id}: ${r.linesRead} lines, ${r.kept} kept, ${r.duplicates} duplicates, ${r.rejected} rejected`);
      return result;
    });
  }
}
