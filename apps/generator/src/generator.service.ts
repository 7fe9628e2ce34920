import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import type { JobName, JobPayload } from '@rescue/contracts';
import type { CodingTask } from '@rescue/datasets';
import { ConfigError, InvalidInputError, NotFoundError } from '@rescue/domain';
import { type GenerationStore, generateForTask } from '@rescue/generation';
import { KnowledgeBaseReader, llmEmbedderFor } from '@rescue/knowledge';
import { type Llm, llmFromEnv } from '@rescue/llm';
import { type PipelineStores, openStores } from '@rescue/pipeline';
import { Slicer } from '@rescue/slicing';
import type { GeneratorWorkerConfig } from './generator-worker.config';

export const GENERATOR_CONFIG = Symbol('GENERATOR_CONFIG');

/** Generates one task of a distributed batch and stores its result under the task's id. */
@Injectable()
export class GeneratorService implements OnModuleDestroy {
  private readonly stores: PipelineStores;
  private readonly store: GenerationStore;
  private readonly llm?: Llm;
  private readonly readers = new Map<string, KnowledgeBaseReader>();
  private slicer?: Promise<Slicer>;

  constructor(@Inject(GENERATOR_CONFIG) private readonly config: GeneratorWorkerConfig) {
    this.stores = openStores(config);
    this.store = this.stores.generation;
    this.llm = llmFromEnv(config, { dataDir: config.RESCUE_DATA_DIR });
  }

  /** The reader of a KB folder, one per folder: it keeps the versions jobs pin open, and follows republishes. */
  private reader(dir: string): KnowledgeBaseReader {
    let reader = this.readers.get(dir);
    // With ELASTICSEARCH_URL the searches run on the KB version's ES indices; documents stay in the folder.
    if (!reader)
      this.readers.set(
        dir,
        (reader = new KnowledgeBaseReader({ dir, elasticsearchUrl: this.config.ELASTICSEARCH_URL, elasticsearchPrefix: this.config.ELASTICSEARCH_PREFIX }, { embedderFor: llmEmbedderFor(this.llm) })),
      );
    return reader;
  }

  async generate(payload: JobPayload<JobName.TaskGenerate>): Promise<{ id: string; samples: number; abstained: boolean }> {
    if (!this.llm) throw new ConfigError(['LLM_BASE_URL is not set on the generator worker']);
    if (!payload.kbDir) throw new InvalidInputError(`job for ${payload.taskId} names no KB`);
    const task = await this.store.task(payload.batchId, payload.taskId);
    if (!task) throw new NotFoundError(`task ${payload.taskId} of batch ${payload.batchId} is not in the generation store`);
    // The version the batch was planned on, even when a newer one went live meanwhile: every task
    // of a batch is answered from one KB. A version pruned since is a clear, final error.
    const kb = await this.reader(payload.kbDir).version(payload.kbVersion);
    this.slicer ??= Slicer.create();
    const slicer = await this.slicer;
    const result = await generateForTask(task, kb, this.llm, {
      samples: payload.samples,
      temperature: payload.temperature,
      style: payload.style,
      guidance: { cwes: payload.guidanceCwes, tokens: payload.guidanceTokens },
      apiCalls: (language, code) => slicer.apiReferences(language as CodingTask['language'], code),
    });
    await this.store.putResult(payload.batchId, result);
    return { id: result.id, samples: result.samples.length, abstained: result.abstained };
  }

  async onModuleDestroy(): Promise<void> {
    await this.stores.close();
  }
}
