import { type DynamicModule, Module } from '@nestjs/common';
import type { RedisEnv } from '@rescue/config';
import { WorkerApp } from '@rescue/contracts';
import { QueueModule } from '@rescue/queue';

/** The slicer worker. Its processor arrives with the slicing library (issue #3); until then it only registers its queue. */
@Module({})
export class SlicerWorkerModule {
  static register(config: RedisEnv): DynamicModule {
    return { module: SlicerWorkerModule, imports: [QueueModule.forWorker(WorkerApp.Slicer, config)] };
  }
}
