import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { Redis } from 'ioredis';
import type { JobName, JobPayload } from '@rescue/contracts';
import { type BuildStores, type KbManifest, type SummarizeJobResult, buildStores, localEmbedder, runIndexJob } from '@rescue/knowledge';
import { llmConfigFromEnv } from '@rescue/llm';
import { connectionOptions } from '@rescue/queue';
import type { IndexerWorkerConfig } from './indexer-worker.config';

export const INDEXER_CONFIG = Symbol('INDEXER_CONFIG');

/** Publishes a distributed build's KB version once all of its clusters are summarized. */
@Injectable()
export class IndexerService implements OnModuleDestroy {
  private readonly redis?: Redis;
  private readonly stores: BuildStores;
  private readonly distillationMode: 'llm' | 'extractive';

  constructor(@Inject(INDEXER_CONFIG) config: IndexerWorkerConfig) {
    this.redis = config.RECORD_STORE === 'redis' ? new Redis(connectionOptions('worker', config.REDIS_URL)) : undefined;
    this.stores = buildStores(config.RECORD_STORE, { dataDir: config.RESCUE_DATA_DIR, redis: this.redis, prefix: config.QUEUE_PREFIX });
    this.distillationMode = llmConfigFromEnv(config) ? 'llm' : 'extractive';
  }

  index(payload: JobPayload<JobName.KbIndex>, children: SummarizeJobResult[]): Promise<KbManifest> {
    return runIndexJob(payload, { staging: this.stores.staging, embedder: localEmbedder, distillationMode: this.distillationMode }, children);
  }

  onModuleDestroy(): void {
    this.redis?.disconnect();
  }
}
