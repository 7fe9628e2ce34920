import { type DynamicModule, Module } from '@nestjs/common';
import { WorkerApp } from '@rescue/contracts';
import { QueueModule } from '@rescue/queue';
import { IndexerProcessor } from './indexer.processor';
import { INDEXER_CONFIG, IndexerService } from './indexer.service';
import type { IndexerWorkerConfig } from './indexer-worker.config';

@Module({})
export class IndexerWorkerModule {
  static register(config: IndexerWorkerConfig): DynamicModule {
    return {
      module: IndexerWorkerModule,
      imports: [QueueModule.forWorker(WorkerApp.Indexer, config)],
      providers: [{ provide: INDEXER_CONFIG, useValue: config }, IndexerService, IndexerProcessor],
    };
  }
}
