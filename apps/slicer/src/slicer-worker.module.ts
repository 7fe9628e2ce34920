import { join } from 'node:path';
import { type DynamicModule, Module } from '@nestjs/common';
import { WorkerApp } from '@rescue/contracts';
import { QueueModule } from '@rescue/queue';
import type { SlicerWorkerConfig } from './slicer-worker.config';

/** The compiled sandbox file next to this module (dist/apps/slicer/src/slice.sandbox.js). */
export const SLICE_SANDBOX = join(__dirname, 'slice.sandbox.js');

/**
 * The slicer worker: the processor runs in a worker thread (see slice.sandbox.ts), so this module
 * only wires the queue to it. `processorPath` lets tests point at the compiled file.
 */
@Module({})
export class SlicerWorkerModule {
  static register(config: SlicerWorkerConfig, processorPath = SLICE_SANDBOX): DynamicModule {
    return {
      module: SlicerWorkerModule,
      imports: [
        QueueModule.forWorker(WorkerApp.Slicer, config, {
          processors: [
            {
              path: processorPath,
              concurrency: config.SLICER_CONCURRENCY,
              useWorkerThreads: true,
              lockDuration: config.SLICER_LOCK_DURATION_MS,
              stalledInterval: config.SLICER_STALLED_INTERVAL_MS,
              // The thread parses the same settings this process parsed, handed over explicitly.
              workerThreadsOptions: { env: Object.fromEntries(Object.entries(config).map(([k, v]) => [k, String(v)])) },
            },
          ],
        }),
      ],
    };
  }
}
