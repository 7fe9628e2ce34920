import { AsyncResource } from 'node:async_hooks';
import PQueue from 'p-queue';
import { InvalidInputError } from '@rescue/domain';

/**
 * Where the calls of one or many summarizations wait for a slot: at most `concurrency` in flight,
 * the waiting call with the highest priority first (FIFO among equals). One limiter shared by every
 * tree of a build is what keeps the LLM busy: a cluster's tail (its last merges) overlaps the next
 * cluster's leaves instead of leaving slots idle.
 */
export interface CallLimiter {
  run<T>(priority: number, call: () => Promise<T>): Promise<T>;
}

/**
 * A {@link CallLimiter} over p-queue (6.x: the last CommonJS major, which this CommonJS build can
 * require under jest).
 */
export function callLimiter(concurrency: number): CallLimiter {
  const queue = new PQueue({ concurrency: Math.max(1, concurrency) });
  // A queued call runs from whichever call's completion freed its slot; bound, it runs in the async
  // context of the caller that queued it (so per-cluster counters, see countLlmCalls, stay its own).
  return { run: (priority, call) => queue.add(AsyncResource.bind(call), { priority }) };
}

/** How many merge levels Algorithm 1 needs above `leaves` leaves at batch size `b` (0 for one leaf). */
export function mergeLevels(leaves: number, b: number): number {
  let levels = 0;
  for (let n = leaves; n > 1; n = Math.ceil(n / b)) levels += 1;
  return levels;
}

/**
 * RESCUE's bottom-up summarization (paper §3.3, Algorithm 1): every leaf is summarized, then the
 * summaries are merged in batches of at most `batchSize` (at least 2), level by level, until one
 * remains; a batch of one goes up a level as it is, without a call.
 *
 * The tree is the level-by-level one (the same batches, in input order, whatever finishes first),
 * but a merge starts as soon as its own children are done rather than when its whole level is. Every
 * call goes through `limiter` (a shared one caps a whole build's calls; without it, a private one of
 * `concurrency` slots), prioritized by how many levels remain above it to the root: the longest
 * remaining chain first, which for trees of equal-length calls is Hu's optimal schedule and so
 * keeps the slots full until the very end.
 *
 * The caller decides what a leaf is: the LLM distiller's guideline leaves are batches of cases
 * (capped by count and by size, see `batchBy`), its cause leaves single functions.
 */
export async function recursiveSummarize<L, S>(
  leaves: readonly L[],
  options: { batchSize: number; concurrency: number; limiter?: CallLimiter; priority?: number },
  summarizeLeaf: (leaf: L) => Promise<S>,
  merge: (batch: S[]) => Promise<S>,
): Promise<S> {
  if (leaves.length === 0) throw new InvalidInputError('nothing to summarize');
  // A batch of 1 would never shrink a level.
  const b = Math.max(2, options.batchSize);
  const limiter = options.limiter ?? callLimiter(options.concurrency);
  const height = mergeLevels(leaves.length, b);
  const base = options.priority ?? 0;
  // After the first failure, calls of this tree that have not started yet are not made: the
  // summary is lost anyway, and a shared limiter's slots belong to the other trees.
  let failure: { error: unknown } | undefined;
  const guarded = <T>(priority: number, call: () => Promise<T>): Promise<T> =>
    limiter.run(priority, async () => {
      if (failure) throw failure.error;
      try {
        return await call();
      } catch (error) {
        failure ??= { error };
        throw error;
      }
    });
  let level: Promise<S>[] = leaves.map((leaf) => guarded(base + height, () => summarizeLeaf(leaf)));
  for (let k = 1; level.length > 1; k += 1) {
    const priority = base + height - k;
    level = chunk(level, b).map((batch) => (batch.length === 1 ? batch[0] : Promise.all(batch).then((items) => guarded(priority, () => merge(items)))));
  }
  return level[0];
}

export function chunk<T>(xs: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += size) out.push(xs.slice(i, i + size));
  return out;
}
