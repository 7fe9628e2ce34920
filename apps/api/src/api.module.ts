import { type DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { Metrics } from '@rescue/observability';
import { ApiKeyGuard } from './api-key.guard';
import { ApiRedisModule } from './api-redis';
import type { ApiConfig } from './api.config';
import { API_CONFIG } from './api.tokens';
import { HealthController } from './health.controller';
import { JobsModule } from './jobs/jobs.module';
import { MetricsController } from './metrics.controller';
import { DocsController } from './openapi/docs.controller';
import { QueueMetrics } from './queue-metrics';
import { ReadinessService } from './readiness.service';
import { RescueErrorFilter } from './rescue-error.filter';
import { RetrievalPool } from './retrieval-pool';
import { RetrievalController } from './retrieval.controller';
import { RetrievalService } from './retrieval.service';

/** The HTTP gateway: produces jobs, serves retrieval and status; it never consumes a queue. */
@Module({})
export class ApiModule {
  static register(config: ApiConfig): DynamicModule {
    return {
      module: ApiModule,
      // Redis connects in the background (api-redis.ts): the API starts and retrieves without it.
      imports: [ApiRedisModule.register(config), JobsModule.register(config)],
      controllers: [HealthController, RetrievalController, MetricsController, DocsController],
      providers: [
        { provide: API_CONFIG, useValue: config },
        // One registry per app instance, so tests holding several apps see only their own series.
        { provide: Metrics, useFactory: () => new Metrics({ app: 'api' }) },
        ApiKeyGuard,
        RetrievalPool,
        RetrievalService,
        ReadinessService,
        QueueMetrics,
        { provide: APP_FILTER, useClass: RescueErrorFilter },
      ],
      exports: [API_CONFIG],
    };
  }
}
