import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import writeFileAtomic from 'write-file-atomic';
import { type CodingTask, readJsonIfExists } from '@rescue/datasets';
import { sha256Hex, InvalidInputError } from '@rescue/domain';
import type { GenerationResult } from './generate-task';

/**
 * Where a distributed generation batch keeps its tasks (the producer writes them; jobs carry only
 * ids) and its results (each worker writes its task's result, keyed by task, so a retried or
 * duplicated job overwrites instead of adding).
 */
export interface GenerationStore {
  putTasks(batchId: string, tasks: CodingTask[]): Promise<void>;
  task(batchId: string, taskId: string): Promise<CodingTask | undefined>;
  putResult(batchId: string, result: GenerationResult): Promise<void>;
  result(batchId: string, taskId: string): Promise<GenerationResult | undefined>;
}

const key = (taskId: string): string => sha256Hex(taskId).slice(0, 32);
const safe = (batchId: string): string => {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(batchId)) throw new InvalidInputError(`not a batch id: ${JSON.stringify(batchId.slice(0, 70))}`);
  return batchId;
};

export class FsGenerationStore implements GenerationStore {
  constructor(private readonly dataDir: string) {}

  private path(batchId: string, kind: 'tasks' | 'results', taskId: string): string {
    return join(this.dataDir, 'generation', safe(batchId), kind, `${key(taskId)}.json`);
  }

  private async put(path: string, value: unknown): Promise<void> {
    await mkdir(join(path, '..'), { recursive: true });
    await writeFileAtomic(path, JSON.stringify(value));
  }

  private get<T>(path: string): Promise<T | undefined> {
    return readJsonIfExists<T>(path, 'delete it (a re-run writes it again)');
  }

  async putTasks(batchId: string, tasks: CodingTask[]): Promise<void> {
    for (const t of tasks) await this.put(this.path(batchId, 'tasks', t.id), t);
  }

  task(batchId: string, taskId: string): Promise<CodingTask | undefined> {
    return this.get<CodingTask>(this.path(batchId, 'tasks', taskId));
  }

  putResult(batchId: string, result: GenerationResult): Promise<void> {
    return this.put(this.path(batchId, 'results', result.id), result);
  }

  result(batchId: string, taskId: string): Promise<GenerationResult | undefined> {
    return this.get<GenerationResult>(this.path(batchId, 'results', taskId));
  }
}

export class RedisGenerationStore implements GenerationStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private hash(batchId: string, kind: 'tasks' | 'results'): string {
    return `${this.prefix}:gen:${safe(batchId)}:${kind}`;
  }

  async putTasks(batchId: string, tasks: CodingTask[]): Promise<void> {
    if (tasks.length === 0) return;
    await this.redis.hset(this.hash(batchId, 'tasks'), Object.fromEntries(tasks.map((t) => [t.id, JSON.stringify(t)])));
  }

  async task(batchId: string, taskId: string): Promise<CodingTask | undefined> {
    const v = await this.redis.hget(this.hash(batchId, 'tasks'), taskId);
    return v === null ? undefined : (JSON.parse(v) as CodingTask);
  }

  async putResult(batchId: string, result: GenerationResult): Promise<void> {
    await this.redis.hset(this.hash(batchId, 'results'), result.id, JSON.stringify(result));
  }

  async result(batchId: string, taskId: string): Promise<GenerationResult | undefined> {
    const v = await this.redis.hget(this.hash(batchId, 'results'), taskId);
    return v === null ? undefined : (JSON.parse(v) as GenerationResult);
  }
}
