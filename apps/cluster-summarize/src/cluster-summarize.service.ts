import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { Redis } from 'ioredis';
import type { JobName, JobPayload } from '@rescue/contracts';
import { type BuildStores, type ClusterDistiller, DEFAULT_LLM_DISTILLER, type SummarizeJobResult, buildStores, extractiveDistiller, llmDistiller, runSummarizeJob } from '@rescue/knowledge';
import { LlmClient } from '@rescue/llm';
import { connectionOptions } from '@rescue/queue';
import type { SummarizeWorkerConfig } from './cluster-summarize-worker.config';

export const SUMMARIZE_CONFIG = Symbol('SUMMARIZE_CONFIG');

/** Summarizes one cluster of a distributed build: with the LLM when one is configured, else extractively. */
@Injectable()
export class ClusterSummarizeService implements OnModuleDestroy {
  private readonly redis?: Redis;
  private readonly stores: BuildStores;
  private readonly llm?: LlmClient;
  private readonly distiller: ClusterDistiller;

  constructor(@Inject(SUMMARIZE_CONFIG) config: SummarizeWorkerConfig) {
    this.redis = config.RECORD_STORE === 'redis' ? new Redis(connectionOptions('worker', config.REDIS_URL)) : undefined;
    this.stores = buildStores(config.RECORD_STORE, { dataDir: config.RESCUE_DATA_DIR, redis: this.redis, prefix: config.QUEUE_PREFIX });
    this.llm = LlmClient.fromEnv(config, { dataDir: config.RESCUE_DATA_DIR });
    this.distiller = this.llm ? llmDistiller(this.llm, { ...DEFAULT_LLM_DISTILLER, model: this.llm.modelFor('summarizer') }) : extractiveDistiller;
  }

  summarize(payload: JobPayload<JobName.ClusterSummarize>): Promise<SummarizeJobResult> {
    return runSummarizeJob(payload, { ...this.stores, distiller: this.distiller, llmStats: this.llm ? () => this.llm!.stats() : undefined });
  }

  onModuleDestroy(): void {
    this.redis?.disconnect();
  }
}
