import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import type { JobName, JobPayload } from '@rescue/contracts';
import { type ClusterDistiller, DEFAULT_LLM_DISTILLER, extractiveDistiller, llmDistiller } from '@rescue/knowledge';
import { ConfigError, InvalidInputError } from '@rescue/domain';
import { type Llm, llmFromEnv } from '@rescue/llm';
import { type PipelineStores, type SummarizeJobResult, knowledgeOfBuild, openStores, summarizeStage } from '@rescue/pipeline';
import type { SummarizeWorkerConfig } from './cluster-summarize-worker.config';

export const SUMMARIZE_CONFIG = Symbol('SUMMARIZE_CONFIG');

/** Summarizes one cluster of a distributed build: with the LLM when one is configured, else extractively. */
@Injectable()
export class ClusterSummarizeService implements OnModuleDestroy {
  private readonly stores: PipelineStores;
  private readonly llm?: Llm;

  constructor(@Inject(SUMMARIZE_CONFIG) config: SummarizeWorkerConfig) {
    this.stores = openStores(config);
    this.llm = llmFromEnv(config, { dataDir: config.RESCUE_DATA_DIR });
  }

  /** The distiller the build asked for (not the one this worker happens to be able to run). */
  private distiller(build: NonNullable<JobPayload<JobName.ClusterSummarize>['build']>): ClusterDistiller {
    if (build.distillation === 'extractive') return extractiveDistiller;
    if (!this.llm)
      throw new ConfigError([`build ${build.buildId} asks for LLM distillation, but this cluster-summarize worker has no LLM: set LLM_BASE_URL (and LLM_MODEL) on it, or rebuild with --extractive`]);
    return llmDistiller(this.llm, { ...DEFAULT_LLM_DISTILLER, batchSize: build.batchSize, model: this.llm.modelFor('summarizer') });
  }

  async summarize(payload: JobPayload<JobName.ClusterSummarize>): Promise<SummarizeJobResult> {
    if (!payload.build) throw new InvalidInputError(`summarize job for ${payload.clusterKey} carries no build spec`);
    const distiller = this.distiller(payload.build);
    return summarizeStage(payload, {
      records: this.stores.records,
      slices: this.stores.slices,
      staging: this.stores.staging,
      knowledge: await knowledgeOfBuild(payload.build),
      distiller,
    });
  }

  async onModuleDestroy(): Promise<void> {
    await this.stores.close();
  }
}
