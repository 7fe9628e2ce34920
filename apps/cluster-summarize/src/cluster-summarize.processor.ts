import { Processor, WorkerHost } from '@nestjs/bullmq';
import { Inject, type OnApplicationBootstrap } from '@nestjs/common';
import type { Job } from 'bullmq';
import { JobName, QueueName, parsePayload } from '@rescue/contracts';
import type { SummarizeJobResult } from '@rescue/pipeline';
import { runClassified } from '@rescue/queue';
import { ClusterSummarizeService, SUMMARIZE_CONFIG } from './cluster-summarize.service';
import type { SummarizeWorkerConfig } from './cluster-summarize-worker.config';

@Processor(QueueName.Summarize)
export class ClusterSummarizeProcessor extends WorkerHost implements OnApplicationBootstrap {
  constructor(
    private readonly service: ClusterSummarizeService,
    @Inject(SUMMARIZE_CONFIG) private readonly config: SummarizeWorkerConfig,
  ) {
    super();
  }

  onApplicationBootstrap(): void {
    this.worker.concurrency = this.config.SUMMARIZE_CONCURRENCY;
  }

  async process(job: Job): Promise<SummarizeJobResult> {
    return runClassified(this.worker, () => this.service.summarize(parsePayload(JobName.ClusterSummarize, job.data)), job);
  }
}
