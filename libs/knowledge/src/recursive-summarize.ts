import { InvalidInputError } from '@rescue/domain';

/**
 * RESCUE's bottom-up summarization (paper §3.3, Algorithm 1): split the items into batches of at
 * most `b`, summarize each batch, then merge the summaries in batches of `b` again until one
 * remains. Batches of one level run concurrently up to `concurrency`.
 */
export async function recursiveSummarize<I, S>(
  items: I[],
  options: { batchSize: number; concurrency: number },
  leaf: (batch: I[]) => Promise<S>,
  merge: (batch: S[]) => Promise<S>,
): Promise<S> {
  if (items.length === 0) throw new InvalidInputError('nothing to summarize');
  const b = Math.max(2, options.batchSize);
  let level = await mapLimited(chunk(items, b), options.concurrency, leaf);
  while (level.length > 1) level = await mapLimited(chunk(level, b), options.concurrency, (batch) => (batch.length === 1 ? Promise.resolve(batch[0]) : merge(batch)));
  return level[0];
}

export function chunk<T>(xs: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += size) out.push(xs.slice(i, i + size));
  return out;
}

/** Promise.all with at most `limit` calls in flight, results in input order. */
export async function mapLimited<T, R>(xs: T[], limit: number, fn: (x: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(xs.length);
  let next = 0;
  const workers = Array.from({ length: Math.max(1, Math.min(limit, xs.length)) }, async () => {
    while (next < xs.length) {
      const i = next;
      next += 1;
      out[i] = await fn(xs[i], i);
    }
  });
  await Promise.all(workers);
  return out;
}
