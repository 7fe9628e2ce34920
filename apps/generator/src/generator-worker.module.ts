import { type DynamicModule, Module } from '@nestjs/common';
import type { RedisEnv } from '@rescue/config';
import { WorkerApp } from '@rescue/contracts';
import { QueueModule } from '@rescue/queue';

/** The generator worker. Its processor arrives with retrieval and generation (issue #5); until then it only registers its queue. */
@Module({})
export class GeneratorWorkerModule {
  static register(config: RedisEnv): DynamicModule {
    return { module: GeneratorWorkerModule, imports: [QueueModule.forWorker(WorkerApp.Generator, config)] };
  }
}
