import { type DynamicModule, Module } from '@nestjs/common';
import type { RedisEnv } from '@rescue/config';
import { QueueModule } from '@rescue/queue';
import { HealthController } from './health.controller';

/** The HTTP gateway: produces jobs and serves status; it never consumes a queue. */
@Module({})
export class ApiModule {
  static register(config: RedisEnv): DynamicModule {
    return { module: ApiModule, imports: [QueueModule.forProducer(config)], controllers: [HealthController] };
  }
}
