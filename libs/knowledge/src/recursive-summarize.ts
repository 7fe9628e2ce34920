import pMap from 'p-map';
import { InvalidInputError } from '@rescue/domain';

/**
 * RESCUE's bottom-up summarization (paper §3.3, Algorithm 1): every leaf is summarized, then the
 * summaries are merged in batches of at most `batchSize` (at least 2), level by level, until one
 * remains; a batch of one goes up a level as it is, without a call. The calls of one level run
 * concurrently, at most `concurrency` in flight, and each level keeps its input order.
 *
 * The caller decides what a leaf is: the LLM distiller's guideline leaves are batches of cases
 * (capped by count and by size, see `batchBy`), its cause leaves single functions.
 */
export async function recursiveSummarize<L, S>(
  leaves: readonly L[],
  options: { batchSize: number; concurrency: number },
  summarizeLeaf: (leaf: L) => Promise<S>,
  merge: (batch: S[]) => Promise<S>,
): Promise<S> {
  if (leaves.length === 0) throw new InvalidInputError('nothing to summarize');
  // A batch of 1 would never shrink a level.
  const b = Math.max(2, options.batchSize);
  const concurrency = Math.max(1, options.concurrency);
  let level = await pMap(leaves, (leaf) => summarizeLeaf(leaf), { concurrency });
  while (level.length > 1) level = await pMap(chunk(level, b), (batch) => (batch.length === 1 ? batch[0] : merge(batch)), { concurrency });
  return level[0];
}

export function chunk<T>(xs: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += size) out.push(xs.slice(i, i + size));
  return out;
}
