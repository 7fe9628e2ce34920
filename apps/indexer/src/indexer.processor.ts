import { Processor, WorkerHost } from '@nestjs/bullmq';
import { Inject, type OnApplicationBootstrap } from '@nestjs/common';
import type { Job } from 'bullmq';
import { JobName, QueueName, parsePayload } from '@rescue/contracts';
import type { KbManifest } from '@rescue/knowledge';
import type { SummarizeJobResult } from '@rescue/pipeline';
import { runClassified } from '@rescue/queue';
import { INDEXER_CONFIG, IndexerService } from './indexer.service';
import type { IndexerWorkerConfig } from './indexer-worker.config';

@Processor(QueueName.Index)
export class IndexerProcessor extends WorkerHost implements OnApplicationBootstrap {
  constructor(
    private readonly service: IndexerService,
    @Inject(INDEXER_CONFIG) private readonly config: IndexerWorkerConfig,
  ) {
    super();
  }

  onApplicationBootstrap(): void {
    this.worker.concurrency = this.config.INDEXER_CONCURRENCY;
  }

  async process(job: Job): Promise<KbManifest> {
    return runClassified(
      this.worker,
      async () => {
        // Fan-in: the flow runs this job only after every summarize child completed.
        const children = Object.values(await job.getChildrenValues()) as SummarizeJobResult[];
        return this.service.index(parsePayload(JobName.KbIndex, job.data), children);
      },
      job,
    );
  }
}
