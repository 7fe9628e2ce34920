import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import type { Piscina } from 'piscina';
import { ConfigError, type FixRecord, type Language } from '@rescue/domain';
import type { ParseLimits } from './parsers';
import type { SliceOutcome } from './slicer';
import type { SliceTask } from './slicer.worker';

/** What slices records: a Slicer in this thread, or a SlicerPool; `concurrency` is how many records it usefully takes at once. */
export interface RecordSlicer {
  sliceRecord(record: FixRecord, hops?: number): Promise<SliceOutcome>;
  readonly concurrency?: number;
  /** Readies the slicer for records of `languages` before a batch of them (see Slicer.prepare). */
  prepare?(languages: Iterable<Language>): Promise<void>;
}

/**
 * The worker file. Built, it sits beside this one; under ts-jest (this file is .ts) the threads
 * run the build output, because a worker thread cannot load TypeScript: run `npm run build` first.
 */
export function slicerWorkerFile(): string {
  const here = join(__dirname, 'slicer.worker.js');
  if (existsSync(here)) return here;
  const built = resolve(__dirname, '../../../dist/libs/slicing/src/slicer.worker.js');
  if (existsSync(built)) return built;
  throw new ConfigError([`the slicer worker is not built (looked for ${here} and ${built}): run \`npm run build\``]);
}

export interface SlicerPoolOptions {
  /** Worker threads; by default one per core. */
  threads?: number;
  limits?: Partial<ParseLimits>;
}

/**
 * Slicing on worker threads, so every core parses and builds graphs: each thread has its own
 * Slicer. Records wait here (at most two per thread are handed to the threads at once), so any
 * number of callers leave a bounded queue behind. Outcomes are the ones the Slicer gives in this
 * thread; a record whose thread fails (an unexpected error, a crash) comes back as a `worker_failed`
 * outcome of that record alone, never as a rejection that would lose the records sliced with it.
 */
export class SlicerPool implements RecordSlicer {
  readonly concurrency: number;
  private readonly pool: Piscina<SliceTask, SliceOutcome>;
  private readonly waiting: (() => void)[] = [];
  private inFlight = 0;

  private constructor(pool: Piscina<SliceTask, SliceOutcome>, concurrency: number) {
    this.pool = pool;
    this.concurrency = concurrency;
  }

  static async create(options: SlicerPoolOptions = {}): Promise<SlicerPool> {
    const threads = Math.max(1, options.threads ?? availableParallelism());
    // Loaded here, not with the library: most users of @rescue/slicing never start a pool.
    const { Piscina } = await import('piscina');
    const pool = new Piscina<SliceTask, SliceOutcome>({
      filename: slicerWorkerFile(),
      workerData: { limits: options.limits ?? {} },
      minThreads: threads,
      maxThreads: threads,
      // Threads live as long as the pool: a new one loads its grammars again.
      idleTimeout: 2 ** 31 - 1,
    });
    return new SlicerPool(pool, threads);
  }

  async sliceRecord(record: FixRecord, hops = 2): Promise<SliceOutcome> {
    // A thread finishing a record finds the next one queued (two per thread), not an empty queue.
    // A finishing record hands its slot to the first one waiting, so at most 2 × threads are out.
    if (this.inFlight >= 2 * this.concurrency) await new Promise<void>((go) => this.waiting.push(go));
    else this.inFlight += 1;
    try {
      return await this.pool.run({ record, hops });
    } catch (err) {
      return {
        ok: false,
        failure: {
          recordId: record.id,
          language: record.language,
          cwe: record.cwe,
          failureClass: 'worker_failed',
          message: `the slicing thread failed on this record: ${(err as Error)?.message ?? String(err)}`,
        },
        work: 0,
      };
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.inFlight -= 1;
    }
  }

  /** Ends the worker threads, after the records already handed to them; a second call waits for the first (the inline build closes it after slicing, then again when done). */
  close(): Promise<void> {
    this.closing ??= this.pool.close();
    return this.closing;
  }

  private closing?: Promise<void>;
}
