import { Processor, WorkerHost } from '@nestjs/bullmq';
import { Inject, type OnApplicationBootstrap } from '@nestjs/common';
import type { Job } from 'bullmq';
import { JobName, QueueName, parsePayload } from '@rescue/contracts';
import { runClassified } from '@rescue/queue';
import { GENERATOR_CONFIG, GeneratorService } from './generator.service';
import type { GeneratorWorkerConfig } from './generator-worker.config';

@Processor(QueueName.Generate)
export class GeneratorProcessor extends WorkerHost implements OnApplicationBootstrap {
  constructor(
    private readonly service: GeneratorService,
    @Inject(GENERATOR_CONFIG) private readonly config: GeneratorWorkerConfig,
  ) {
    super();
  }

  onApplicationBootstrap(): void {
    this.worker.concurrency = this.config.GENERATOR_CONCURRENCY;
  }

  async process(job: Job): Promise<{ id: string; samples: number; abstained: boolean }> {
    return runClassified(this.worker, () => this.service.generate(parsePayload(JobName.TaskGenerate, job.data)), job);
  }
}
