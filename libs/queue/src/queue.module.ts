import { BullModule, type RegisterQueueOptions } from '@nestjs/bullmq';
import { type DynamicModule, Inject, Injectable, Module, type OnApplicationShutdown } from '@nestjs/common';
import type { ConnectionOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { type WorkerApp, queuesConsumedBy } from '@rescue/contracts';
import { setRateLimitPolicy } from './error-mapping';
import { PipelineQueue } from './pipeline-queue';
import { connectionOptions, connectRedis } from './redis-connection';

export interface QueueConnectionConfig {
  REDIS_URL: string;
  QUEUE_PREFIX: string;
  /** Workers' rate-limit policy (redisEnv); defaults apply when a caller's config lacks them. */
  RATE_LIMIT_CAP_MS?: number;
  RATE_LIMIT_RETRIES?: number;
}

export const PRODUCER_REDIS = Symbol('PRODUCER_REDIS');

@Injectable()
class ProducerShutdown implements OnApplicationShutdown {
  constructor(
    @Inject(PRODUCER_REDIS) private readonly redis: Redis,
    private readonly queue: PipelineQueue,
  ) {}

  async onApplicationShutdown(): Promise<void> {
    await this.queue.close();
    this.redis.disconnect();
  }
}

/** BullMQ wiring for every app: the root connection and prefix, and the typed producer. */
@Module({})
export class QueueModule {
  /**
   * For a worker app: registers exactly the queues the contracts say this app consumes, so a
   * processor for any other queue has nothing to attach to. `processors` are sandboxed processor
   * files (BullMQ runs them in worker threads or child processes) for CPU-bound stages.
   */
  static forWorker(app: WorkerApp, config: QueueConnectionConfig, options: { processors?: RegisterQueueOptions['processors'] } = {}): DynamicModule {
    setRateLimitPolicy({
      ...(config.RATE_LIMIT_CAP_MS !== undefined && { capMs: config.RATE_LIMIT_CAP_MS }),
      ...(config.RATE_LIMIT_RETRIES !== undefined && { maxRetries: config.RATE_LIMIT_RETRIES }),
    });
    return {
      module: QueueModule,
      global: true,
      imports: [
        BullModule.forRoot({ connection: connectionOptions('worker', config.REDIS_URL) as ConnectionOptions, prefix: config.QUEUE_PREFIX }),
        ...queuesConsumedBy(app).map((name) => BullModule.registerQueue({ name, processors: options.processors })),
      ],
      providers: producerProviders(config),
      exports: [BullModule, PipelineQueue, PRODUCER_REDIS],
    };
  }

  /** For producers only (api, cli): the typed producer on a fail-fast connection. */
  static forProducer(config: QueueConnectionConfig): DynamicModule {
    return { module: QueueModule, global: true, providers: producerProviders(config), exports: [PipelineQueue, PRODUCER_REDIS] };
  }
}

function producerProviders(config: QueueConnectionConfig) {
  return [
    { provide: PRODUCER_REDIS, useFactory: () => connectRedis('producer', config.REDIS_URL) },
    { provide: PipelineQueue, inject: [PRODUCER_REDIS], useFactory: (redis: Redis) => new PipelineQueue(redis, config.QUEUE_PREFIX) },
    ProducerShutdown,
  ];
}
