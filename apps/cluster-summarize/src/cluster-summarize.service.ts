import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { Redis } from 'ioredis';
import type { JobName, JobPayload } from '@rescue/contracts';
import { type BuildStores, type ClusterDistiller, DEFAULT_LLM_DISTILLER, type SummarizeJobResult, buildStores, extractiveDistiller, llmDistiller, runSummarizeJob } from '@rescue/knowledge';
import { ConfigError, InvalidInputError } from '@rescue/domain';
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

  constructor(@Inject(SUMMARIZE_CONFIG) config: SummarizeWorkerConfig) {
    this.redis = config.RECORD_STORE === 'redis' ? new Redis(connectionOptions('worker', config.REDIS_URL)) : undefined;
    this.stores = buildStores(config.RECORD_STORE, { dataDir: config.RESCUE_DATA_DIR, redis: this.redis, prefix: config.QUEUE_PREFIX });
    this.llm = LlmClient.fromEnv(config, { dataDir: config.RESCUE_DATA_DIR });
  }

  /** The distiller the build asked for (not the one this worker happens to be able to run). */
  private distiller(build: NonNullable<JobPayload<JobName.ClusterSummarize>['build']>): ClusterDistiller {
    if (build.distillation === 'extractive') return extractiveDistiller;
    if (!this.llm) throw new ConfigError([`build ${build.buildId} asks for LLM distillation, but this cluster-summarize worker has no LLM: set LLM_BASE_URL (and LLM_MODEL) on it, or rebuild with --extractive`]);
    return llmDistiller(this.llm, { ...DEFAULT_LLM_DISTILLER, batchSize: build.batchSize, model: this.llm.modelFor('summarizer') });
  }

  summarize(payload: JobPayload<JobName.ClusterSummarize>): Promise<SummarizeJobResult> {
    if (!payload.build) throw new InvalidInputError(`summarize job for ${payload.clusterKey} carries no build spec`);
    return runSummarizeJob(payload, { ...this.stores, distiller: this.distiller(payload.build), llmStats: this.llm ? () => this.llm!.stats() : undefined });
  }

  onModuleDestroy(): void {
    this.redis?.disconnect();
  }
}
