import { type DynamicModule, Module } from '@nestjs/common';
import type { RedisEnv } from '@rescue/config';
import { WorkerApp } from '@rescue/contracts';
import { QueueModule } from '@rescue/queue';

/** The indexer worker. Its processor arrives with the knowledge index (issue #4); until then it only registers its queue. */
@Module({})
export class IndexerWorkerModule {
  static register(config: RedisEnv): DynamicModule {
    return { module: IndexerWorkerModule, imports: [QueueModule.forWorker(WorkerApp.Indexer, config)] };
  }
}
