import { type DynamicModule, Inject, Injectable, Module, type OnApplicationShutdown } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { GenerationBatches, KbBuildJobs, type PipelineStores, openStores } from '@rescue/pipeline';
import { PRODUCER_REDIS, PipelineQueue } from '@rescue/queue';
import { ApiKeyGuard } from '../api-key.guard';
import type { ApiConfig } from '../api.config';
import { API_CONFIG } from '../api.tokens';
import { WebhookDeliveries } from '../webhooks/webhook-deliveries';
import { GenerationBatchesController } from './generation-batches.controller';
import { JOB_STORES, WEBHOOK_DELIVERIES } from './jobs.tokens';
import { JobsWatcher } from './jobs-watcher';
import { KbBuildsController } from './kb-builds.controller';

@Injectable()
class JobStoresShutdown implements OnApplicationShutdown {
  constructor(
    @Inject(JOB_STORES) private readonly stores: PipelineStores,
    private readonly builds: KbBuildJobs,
  ) {}

  async onApplicationShutdown(): Promise<void> {
    await Promise.all([this.stores.close(), this.builds.close()]);
  }
}

/**
 * The job API: KB builds and versions, generation batches, completion webhooks. It produces jobs
 * on the QueueModule's producer connection (global, registered by ApiModule) and reads the
 * generation store the generator workers write (RECORD_STORE, RESCUE_DATA_DIR).
 */
@Module({})
export class JobsModule {
  static register(config: ApiConfig): DynamicModule {
    return {
      module: JobsModule,
      controllers: [KbBuildsController, GenerationBatchesController],
      providers: [
        { provide: API_CONFIG, useValue: config },
        ApiKeyGuard,
        { provide: JOB_STORES, useFactory: () => openStores(config) },
        {
          provide: GenerationBatches,
          inject: [PRODUCER_REDIS, PipelineQueue, JOB_STORES],
          useFactory: (redis: Redis, queue: PipelineQueue, stores: PipelineStores) => new GenerationBatches(redis, queue, stores.generation, config.QUEUE_PREFIX),
        },
        { provide: KbBuildJobs, inject: [PRODUCER_REDIS, PipelineQueue], useFactory: (redis: Redis, queue: PipelineQueue) => new KbBuildJobs(redis, queue, config.QUEUE_PREFIX) },
        {
          provide: WEBHOOK_DELIVERIES,
          inject: [PRODUCER_REDIS],
          useFactory: (redis: Redis) =>
            config.WEBHOOK_SECRET
              ? new WebhookDeliveries(redis, config.QUEUE_PREFIX, {
                  secret: config.WEBHOOK_SECRET,
                  allowInternal: config.WEBHOOK_ALLOW_PRIVATE,
                  attempts: config.WEBHOOK_ATTEMPTS,
                  timeoutMs: config.WEBHOOK_TIMEOUT_MS,
                })
              : null,
        },
        JobsWatcher,
        JobStoresShutdown,
      ],
    };
  }
}
