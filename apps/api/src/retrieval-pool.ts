import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { Metrics } from '@rescue/observability';
import { Piscina } from 'piscina';
import type { ApiConfig } from './api.config';
import { API_CONFIG } from './api.tokens';
import type { RetrievalTask, RetrievalTaskResult } from './retrieval-task';
import { ConfigError } from '@rescue/domain';

/**
 * The worker file. Built, it sits beside this one; under ts-jest (this file is .ts) the threads
 * run the build output, because a worker thread cannot load TypeScript: run `npm run build` first.
 */
export function retrievalWorkerFile(): string {
  const here = join(__dirname, 'retrieval.worker.js');
  if (existsSync(here)) return here;
  const built = resolve(__dirname, '../../../dist/apps/api/src/retrieval.worker.js');
  if (existsSync(built)) return built;
  throw new ConfigError([`the retrieval worker is not built (looked for ${here} and ${built}): run \`npm run build\``]);
}

/** Thrown when both the threads and the queue in front of them are full: answered 503 + Retry-After. */
export class PoolBusyError extends Error {}

/**
 * Two pools of worker threads: ordinary prompts, and large ones (API_HEAVY_PROMPT_BYTES and up) on
 * their own threads at a lower CPU priority, so a few clients sending 500 KB prompts wait for each
 * other, never hold a thread that ordinary requests need, and yield the cores to them. Each pool's queue is bounded: beyond it a request is
 * refused at once rather than left to time out.
 */
@Injectable()
export class RetrievalPool implements OnApplicationShutdown {
  private readonly light: Piscina<RetrievalTask, RetrievalTaskResult>;
  private readonly heavy: Piscina<RetrievalTask, RetrievalTaskResult>;

  constructor(
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    private readonly metrics: Metrics,
  ) {
    const common = {
      filename: retrievalWorkerFile(),
      workerData: { config },
      maxQueue: config.API_POOL_MAX_QUEUE,
      // Threads live as long as the process: re-opening the KB costs more than an idle thread.
      // (The largest timer Node accepts; beyond it Node fires after 1 ms, ending threads at once.)
      idleTimeout: 2 ** 31 - 1,
    };
    this.light = new Piscina({ ...common, minThreads: config.API_RETRIEVAL_THREADS, maxThreads: config.API_RETRIEVAL_THREADS });
    // Started on first use, and at a lower priority (piscina's niceIncrement, through @napi-rs/nice).
    this.heavy = new Piscina({ ...common, minThreads: 0, maxThreads: config.API_HEAVY_THREADS, niceIncrement: config.API_HEAVY_NICE });
  }

  /** Whether a prompt of this size goes to the heavy threads. */
  isHeavy(promptBytes: number): boolean {
    return promptBytes >= this.config.API_HEAVY_PROMPT_BYTES;
  }

  async run(task: RetrievalTask, opts: { heavy: boolean; signal?: AbortSignal }): Promise<RetrievalTaskResult> {
    const pool = opts.heavy ? this.heavy : this.light;
    // Piscina rejects at the limit too, but only after queueing work for the rejection; checking
    // first answers at once.
    if (pool.queueSize >= this.config.API_POOL_MAX_QUEUE) throw new PoolBusyError(`the ${opts.heavy ? 'large-prompt' : 'retrieval'} queue is full (${pool.queueSize} waiting)`);
    const queuedAt = performance.now();
    const result = await pool.run(task, { signal: opts.signal }).catch((err: unknown) => {
      if ((err as Error).message?.includes('Task queue is at limit')) throw new PoolBusyError('the retrieval queue is full');
      throw err;
    });
    if (result.ok) {
      const t = result.timings;
      const totalS = (performance.now() - queuedAt) / 1000;
      this.metrics.retrievalDuration.observe({ level: 'total' }, t.totalMs / 1000);
      this.metrics.retrievalDuration.observe({ level: 'queued' }, Math.max(0, totalS - t.totalMs / 1000));
      if (t.cweMs !== undefined) this.metrics.retrievalDuration.observe({ level: 'cwe' }, t.cweMs / 1000);
      if (t.codeMs !== undefined && t.codeMs > 0) this.metrics.retrievalDuration.observe({ level: 'code' }, t.codeMs / 1000);
      this.metrics.setKbVersion(result.kbVersion);
    }
    return result;
  }

  async onApplicationShutdown(): Promise<void> {
    // In-flight tasks finish (the HTTP server stopped taking requests first); the bounded shutdown in main.ts caps the wait.
    await Promise.all([this.light.close(), this.heavy.close()]);
  }
}
