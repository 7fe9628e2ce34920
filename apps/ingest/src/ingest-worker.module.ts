import { type DynamicModule, Module } from '@nestjs/common';
import { WorkerApp } from '@rescue/contracts';
import { QueueModule } from '@rescue/queue';
import { IngestProcessor } from './ingest.processor';
import { IngestService } from './ingest.service';
import type { IngestWorkerConfig } from './ingest-worker.config';
import { INGEST_CONFIG } from './tokens';

@Module({})
export class IngestWorkerModule {
  static register(config: IngestWorkerConfig): DynamicModule {
    return {
      module: IngestWorkerModule,
      imports: [QueueModule.forWorker(WorkerApp.Ingest, config)],
      providers: [{ provide: INGEST_CONFIG, useValue: config }, IngestService, IngestProcessor],
    };
  }
}
