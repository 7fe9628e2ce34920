import { type DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { QueueModule } from '@rescue/queue';
import { ApiKeyGuard } from './api-key.guard';
import type { ApiConfig } from './api.config';
import { API_CONFIG } from './api.tokens';
import { HealthController } from './health.controller';
import { RescueErrorFilter } from './rescue-error.filter';
import { RetrievalController } from './retrieval.controller';
import { RetrievalService } from './retrieval.service';

/** The HTTP gateway: produces jobs, serves retrieval and status; it never consumes a queue. */
@Module({})
export class ApiModule {
  static register(config: ApiConfig): DynamicModule {
    return {
      module: ApiModule,
      imports: [QueueModule.forProducer(config)],
      controllers: [HealthController, RetrievalController],
      providers: [{ provide: API_CONFIG, useValue: config }, ApiKeyGuard, RetrievalService, { provide: APP_FILTER, useClass: RescueErrorFilter }],
    };
  }
}
