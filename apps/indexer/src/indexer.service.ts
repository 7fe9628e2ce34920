import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import type { JobName, JobPayload } from '@rescue/contracts';
import { ConfigError, InvalidInputError } from '@rescue/domain';
import { type EmbedderFactory, type KbManifest, elasticsearchPublisher, localEmbedder } from '@rescue/knowledge';
import { type Llm, llmFromEnv } from '@rescue/llm';
import { type PipelineStores, type SummarizeJobResult, indexStage, knowledgeOfBuild, openStores } from '@rescue/pipeline';
import { LlmEmbedder } from '@rescue/retrieval';
import type { IndexerWorkerConfig } from './indexer-worker.config';

export const INDEXER_CONFIG = Symbol('INDEXER_CONFIG');

/** Publishes a distributed build's KB version once all of its clusters are summarized. */
@Injectable()
export class IndexerService implements OnModuleDestroy {
  private readonly stores: PipelineStores;
  private readonly llm?: Llm;

  constructor(@Inject(INDEXER_CONFIG) private readonly config: IndexerWorkerConfig) {
    this.stores = openStores(config);
    this.llm = llmFromEnv(config, { dataDir: config.RESCUE_DATA_DIR });
  }

  /**
   * Publishes with what the build asked for: its embedder, and Elasticsearch when it named a
   * prefix. The distillation mode is read off the staged nodes, never off this worker's environment.
   */
  async index(payload: JobPayload<JobName.KbIndex>, summarized: SummarizeJobResult[]): Promise<KbManifest> {
    const build = payload.build;
    if (!build) throw new InvalidInputError(`index job ${payload.buildId} carries no build spec`);
    let embedder: EmbedderFactory = localEmbedder;
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
    return indexStage(payload, summarized, { staging: this.stores.staging, knowledge: await knowledgeOfBuild(build), embedder, alsoPublish });
  }

  async onModuleDestroy(): Promise<void> {
    await this.stores.close();
  }
}
