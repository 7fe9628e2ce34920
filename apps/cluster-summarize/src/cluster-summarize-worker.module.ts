import { type DynamicModule, Module } from '@nestjs/common';
import type { RedisEnv } from '@rescue/config';
import { WorkerApp } from '@rescue/contracts';
import { QueueModule } from '@rescue/queue';

/** The cluster-summarize worker. Its processor arrives with distillation (issue #4); until then it only registers its queue. */
@Module({})
export class ClusterSummarizeWorkerModule {
  static register(config: RedisEnv): DynamicModule {
    return { module: ClusterSummarizeWorkerModule, imports: [QueueModule.forWorker(WorkerApp.ClusterSummarize, config)] };
  }
}
