import { type CanActivate, type DynamicModule, Inject, Injectable, Logger, Module, type OnApplicationShutdown, ServiceUnavailableException } from '@nestjs/common';
import { Redis } from 'ioredis';
import { PRODUCER_REDIS, PipelineQueue, type RedisLink, connectionOptions, isRedisLinkError } from '@rescue/queue';
import type { ApiConfig } from './api.config';

/**
 * The API's Redis: connected in the background, so the API starts and serves retrieval while Redis
 * is away (retrieval does not need it), and reconnects for ever. Commands fail at once while it is
 * down (no offline queue): job endpoints answer 503, the rate limiter falls back to memory.
 * (QueueModule.forProducer connects before start and refuses to start without Redis: right for
 * the CLI, wrong for a service whose main endpoint does not need Redis.)
 */
export function lazyApiRedis(url: string): Redis {
  const logger = new Logger('redis');
  let lastError = '';
  const redis = new Redis({
    ...connectionOptions('producer', url),
    lazyConnect: true,
    retryStrategy: (times) => Math.min(times * 200, 5000),
  });
  // Logged once per distinct cause, not once per retry; the host is named, never a password.
  redis.on('error', (err: Error) => {
    if (err.message !== lastError) logger.warn(`Redis at ${new URL(url).host} unavailable: ${err.message}`);
    lastError = err.message;
  });
  redis.on('ready', () => {
    if (lastError) logger.log(`Redis at ${new URL(url).host} reachable again`);
    lastError = '';
  });
  redis.connect().catch(() => undefined);
  return redis;
}

/**
 * Where the job queues' errors go. The queues share the connection of {@link lazyApiRedis}, whose
 * own listener tells an outage once per cause; without listeners of their own, BullMQ would print
 * every queue's every failed reconnect as a raw stack. Their other errors are logged, one line each.
 */
export function apiQueueErrors(logger = new Logger('queue')): Pick<RedisLink, 'watch'> {
  return {
    watch: (emitter, what) =>
      emitter.on('error', (err: unknown) => {
        if (!isRedisLinkError(err)) logger.warn(`${what}: ${(err as Error)?.message ?? String(err)}`);
      }),
  };
}

/** Whether Redis answers now; for readiness and the job endpoints' guard. */
@Injectable()
export class RedisStatus {
  constructor(@Inject(PRODUCER_REDIS) private readonly redis: Redis) {}

  isReady(): boolean {
    return this.redis.status === 'ready';
  }

  /** A PING within `timeoutMs`: true only when Redis really answers. */
  async ping(timeoutMs = 2000): Promise<boolean> {
    if (!this.isReady()) return false;
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([this.redis.ping().then(() => true), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)))]);
    } catch (_down) {
      // Refused, reset or timed out: the answer is "down"; the connection's error listener logged why.
      return false;
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * For routes that need Redis (the job endpoints): 503 with Retry-After while it is unreachable,
 * instead of an error from deep in BullMQ. `@UseGuards(ApiKeyGuard, RedisRequiredGuard)`.
 */
@Injectable()
export class RedisRequiredGuard implements CanActivate {
  constructor(private readonly status: RedisStatus) {}

  canActivate(): boolean {
    if (this.status.isReady()) return true;
    throw new ServiceUnavailableException({ statusCode: 503, message: 'the job queue (Redis) is unreachable; retry later. Retrieval does not need it and still answers.', error: 'redis-unavailable' });
  }
}

@Injectable()
class ApiRedisShutdown implements OnApplicationShutdown {
  constructor(
    @Inject(PRODUCER_REDIS) private readonly redis: Redis,
    private readonly queue: PipelineQueue,
  ) {}

  async onApplicationShutdown(): Promise<void> {
    // Closing queues over a dead connection could wait for ever; main.ts bounds the whole shutdown.
    if (this.redis.status === 'ready') await this.queue.close();
    this.redis.disconnect();
  }
}

/** PRODUCER_REDIS and PipelineQueue for the API's controllers, on the lazy connection. */
@Module({})
export class ApiRedisModule {
  static register(config: Pick<ApiConfig, 'REDIS_URL' | 'QUEUE_PREFIX'>): DynamicModule {
    return {
      module: ApiRedisModule,
      global: true,
      providers: [
        { provide: PRODUCER_REDIS, useFactory: () => lazyApiRedis(config.REDIS_URL) },
        { provide: PipelineQueue, inject: [PRODUCER_REDIS], useFactory: (redis: Redis) => new PipelineQueue(redis, config.QUEUE_PREFIX).reportTo(apiQueueErrors()) },
        RedisStatus,
        RedisRequiredGuard,
        ApiRedisShutdown,
      ],
      exports: [PRODUCER_REDIS, PipelineQueue, RedisStatus, RedisRequiredGuard],
    };
  }
}
