import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { Redis } from 'ioredis';
import type { JobName, JobPayload } from '@rescue/contracts';
import { ConfigError, InvalidInputError } from '@rescue/domain';
import { type BuildEmbedder, type BuildStores, type KbManifest, type SummarizeJobResult, buildStores, elasticsearchPublisher, localEmbedder, runIndexJob } from '@rescue/knowledge';
import { LlmClient } from '@rescue/llm';
import { LlmEmbedder } from '@rescue/retrieval';
import { connectionOptions } from '@rescue/queue';
import type { IndexerWorkerConfig } from './indexer-worker.config';

export const INDEXER_CONFIG = Symbol('INDEXER_CONFIG');

/** Publishes a distributed build's KB version once all of its clusters are summarized. */
@Injectable()
export class IndexerService implements OnModuleDestroy {
  private readonly redis?: Redis;
  private readonly stores: BuildStores;
  private readonly llm?: LlmClient;

  constructor(@Inject(INDEXER_CONFIG) private readonly config: IndexerWorkerConfig) {
    this.redis = config.RECORD_STORE === 'redis' ? new Redis(connectionOptions('worker', config.REDIS_URL)) : undefined;
    this.stores = buildStores(config.RECORD_STORE, { dataDir: config.RESCUE_DATA_DIR, redis: this.redis, prefix: config.QUEUE_PREFIX });
    this.llm = LlmClient.fromEnv(config, { dataDir: config.RESCUE_DATA_DIR });
  }

  /**
   * Publishes with what the build asked for: its embedder, and Elasticsearch when it named a
   * prefix. The distillation mode is read off the staged nodes, never off this worker's environment.
   */
  index(payload: JobPayload<JobName.KbIndex>, children: SummarizeJobResult[]): Promise<KbManifest> {
    const build = payload.build;
    if (!build) throw new InvalidInputError(`index job ${payload.buildId} carries no build spec`);
    let embedder: (corpus: string[]) => Promise<BuildEmbedder> = localEmbedder;
    if (build.embedder === 'llm') {
      const llm = this.llm;
      if (!llm) throw new ConfigError([`build ${build.buildId} asks for the LLM embedder, but this indexer has no LLM: set LLM_BASE_URL and LLM_MODEL_EMBEDDER on it`]);
      embedder = async () => new LlmEmbedder(llm, llm.modelFor('embedder'));
    }
    let alsoPublish;
    if (build.elasticsearchPrefix) {
      if (!this.config.ELASTICSEARCH_URL) throw new ConfigError([`build ${build.buildId} asks to publish to Elasticsearch, but this indexer has no ELASTICSEARCH_URL`]);
      alsoPublish = elasticsearchPublisher(this.config.ELASTICSEARCH_URL, build.elasticsearchPrefix, build.kbDir);
    }
    return runIndexJob(payload, { staging: this.stores.staging, embedder, alsoPublish }, children);
  }

  onModuleDestroy(): void {
    this.redis?.disconnect();
  }
}
