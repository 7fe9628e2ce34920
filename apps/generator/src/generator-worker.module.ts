import { type DynamicModule, Module } from '@nestjs/common';
import { WorkerApp } from '@rescue/contracts';
import { QueueModule } from '@rescue/queue';
import { GeneratorProcessor } from './generator.processor';
import { GENERATOR_CONFIG, GeneratorService } from './generator.service';
import type { GeneratorWorkerConfig } from './generator-worker.config';

@Module({})
export class GeneratorWorkerModule {
  static register(config: GeneratorWorkerConfig): DynamicModule {
    return {
      module: GeneratorWorkerModule,
      imports: [QueueModule.forWorker(WorkerApp.Generator, config)],
      providers: [{ provide: GENERATOR_CONFIG, useValue: config }, GeneratorService, GeneratorProcessor],
    };
  }
}
