import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { Redis } from 'ioredis';
import type { JobName, JobPayload } from '@rescue/contracts';
import type { CodingTask } from '@rescue/datasets';
import { ConfigError, InvalidInputError } from '@rescue/domain';
import { FsGenerationStore, type GenerationStore, RedisGenerationStore, generateForTask } from '@rescue/generation';
import { type OpenedKb, openKnowledgeBaseAt } from '@rescue/knowledge';
import { LlmClient } from '@rescue/llm';
import { connectionOptions } from '@rescue/queue';
import { Slicer } from '@rescue/slicing';
import type { GeneratorWorkerConfig } from './generator-worker.config';

export const GENERATOR_CONFIG = Symbol('GENERATOR_CONFIG');

/** Generates one task of a distributed batch and stores its result under the task's id. */
@Injectable()
export class GeneratorService implements OnModuleDestroy {
  private readonly redis?: Redis;
  private readonly store: GenerationStore;
  private readonly llm?: LlmClient;
  private readonly kbs = new Map<string, Promise<OpenedKb>>();
  private slicer?: Promise<Slicer>;

  constructor(@Inject(GENERATOR_CONFIG) private readonly config: GeneratorWorkerConfig) {
    this.redis = config.RECORD_STORE === 'redis' ? new Redis(connectionOptions('worker', config.REDIS_URL)) : undefined;
    this.store = this.redis ? new RedisGenerationStore(this.redis, config.QUEUE_PREFIX) : new FsGenerationStore(config.RESCUE_DATA_DIR);
    this.llm = LlmClient.fromEnv(config, { dataDir: config.RESCUE_DATA_DIR });
  }

  private kb(dir: string): Promise<OpenedKb> {
    let kb = this.kbs.get(dir);
    if (!kb) {
      // With ELASTICSEARCH_URL the searches run on the KB version's ES indices; documents stay in the folder.
      kb = openKnowledgeBaseAt({ dir, elasticsearchUrl: this.config.ELASTICSEARCH_URL, elasticsearchPrefix: this.config.ELASTICSEARCH_PREFIX });
      this.kbs.set(dir, kb);
      kb.catch(() => this.kbs.delete(dir));
    }
    return kb;
  }

  async generate(payload: JobPayload<JobName.TaskGenerate>): Promise<{ id: string; samples: number; abstained: boolean }> {
    if (!this.llm) throw new ConfigError(['LLM_BASE_URL is not set on the generator worker']);
    if (!payload.kbDir) throw new InvalidInputError(`job for ${payload.taskId} names no KB`);
    const task = await this.store.task(payload.batchId, payload.taskId);
    if (!task) throw new InvalidInputError(`task ${payload.taskId} of batch ${payload.batchId} is not in the generation store`);
    const kb = await this.kb(payload.kbDir);
    if (kb.manifest.version !== payload.kbVersion) throw new InvalidInputError(`batch ${payload.batchId} was planned on KB ${payload.kbVersion}, but ${payload.kbDir} serves ${kb.manifest.version}`);
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

  onModuleDestroy(): void {
    this.redis?.disconnect();
  }
}
