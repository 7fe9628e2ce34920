import { type DynamicModule, Module } from '@nestjs/common';
import { WorkerApp } from '@rescue/contracts';
import { QueueModule } from '@rescue/queue';
import { ClusterSummarizeProcessor } from './cluster-summarize.processor';
import { ClusterSummarizeService, SUMMARIZE_CONFIG } from './cluster-summarize.service';
import type { SummarizeWorkerConfig } from './cluster-summarize-worker.config';

@Module({})
export class ClusterSummarizeWorkerModule {
  static register(config: SummarizeWorkerConfig): DynamicModule {
    return {
      module: ClusterSummarizeWorkerModule,
      imports: [QueueModule.forWorker(WorkerApp.ClusterSummarize, config)],
      providers: [{ provide: SUMMARIZE_CONFIG, useValue: config }, ClusterSummarizeService, ClusterSummarizeProcessor],
    };
  }
}
