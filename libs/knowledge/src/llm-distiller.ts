import { AsyncLocalStorage } from 'node:async_hooks';
import { createTwoFilesPatch } from 'diff';
import type { CweEntry } from '@rescue/datasets';
import type { CweId, FixRecord } from '@rescue/domain';
import { type Llm, causeAnalysisTemplate, causeMergeTemplate, guidelineExtractTemplate, guidelineMergeTemplate, templateRef } from '@rescue/llm';
import type { ClusterDistiller } from './kb-assembly';
import { callLimiter, recursiveSummarize } from './recursive-summarize';

export interface LlmDistillerOptions {
  /** The paper's b: at most this many items per summarization call. */
  batchSize: number;
  /** Also cap a batch by characters of code (≈ tokens × 4), so long C functions do not overflow the context. */
  maxBatchChars: number;
  /**
   * Calls in flight at once, for the whole distiller: every cluster it distils, guidelines and
   * causes, shares these slots (so a build's clusters can be distilled concurrently without
   * multiplying the load on the LLM).
   */
  concurrency: number;
  /** The summarizer model, recorded in provenance. */
  model: string;
}

export const DEFAULT_LLM_DISTILLER: Omit<LlmDistillerOptions, 'model'> = { batchSize: 10, maxBatchChars: 48_000, concurrency: 4 };

const MAX_CODE_CHARS = 12_000;
const clip = (s: string): string => (s.length > MAX_CODE_CHARS ? `${s.slice(0, MAX_CODE_CHARS)}\n… (truncated)` : s);

/** Batches of at most `b` items whose sizes add up to at most `maxChars` (an oversized item stands alone). */
export function batchBy<T>(items: T[], b: number, size: (x: T) => number, maxChars: number): T[][] {
  const out: T[][] = [];
  let cur: T[] = [];
  let chars = 0;
  for (const x of items) {
    const s = size(x);
    if (cur.length > 0 && (cur.length >= b || chars + s > maxChars)) {
      out.push(cur);
      cur = [];
      chars = 0;
    }
    cur.push(x);
    chars += s;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

/** LLM answers used by the distillations run inside {@link countLlmCalls}: made, and served from the response cache. */
export interface LlmCallCount {
  calls: number;
  cached: number;
}

// Per distillation, not per client: clusters distilled concurrently share one client, so the
// difference of its running counters would count the other clusters' calls too.
const callCounts = new AsyncLocalStorage<LlmCallCount>();

/** Runs `fn` and counts the LLM answers the distillers used within it (and only within it). */
export async function countLlmCalls<T>(fn: () => Promise<T>): Promise<{ value: T } & LlmCallCount> {
  const count: LlmCallCount = { calls: 0, cached: 0 };
  const value = await callCounts.run(count, fn);
  return { value, ...count };
}

/**
 * RESCUE's LLM distillation of one cluster (paper §3.3, Algorithm 1 by {@link recursiveSummarize}):
 * guidelines by the leaf prompt over batches of (vulnerable code, fix diff) and the merge prompt up
 * the levels; the cause by the cause-analysis prompt per vulnerable function, merged the same way.
 * Both trees, and the trees of every other cluster this distiller is distilling at the same time,
 * share one limiter of `concurrency` calls in flight. Every answer is validated against its
 * template's schema by the client, and cached by (model, template version, input), so a rebuild
 * calls the LLM only for what changed.
 */
export function llmDistiller(llm: Llm, options: LlmDistillerOptions): ClusterDistiller {
  const templates = [guidelineExtractTemplate, guidelineMergeTemplate, causeAnalysisTemplate, causeMergeTemplate].map(templateRef);
  const limiter = callLimiter(options.concurrency);
  // Every tree of every cluster in one limiter, prioritized by levels left to its root (Hu's order).
  // Tried: earlier clusters first (so each finishes early): the last, largest cluster's chain of
  // merges then ran alone at the end, at 15 of 32 slots (bench:distill, 0.86 against 0.91).
  const tree = { ...options, limiter };
  const counted = async <R extends { cached: boolean }>(call: Promise<R>): Promise<R> => {
    const result = await call;
    const count = callCounts.getStore();
    if (count) {
      if (result.cached) count.cached += 1;
      else count.calls += 1;
    }
    return result;
  };
  return {
    mode: 'llm',
    // Enough clusters at once that their ready calls fill the slots even when most are at their
    // last merge (each cluster has two trees, so two runnable calls at least until it ends).
    clusterConcurrency: Math.max(2, options.concurrency * 2),
    // The model and the prompts' versions decide the answers (the response cache keys on the same),
    // the batch sizes the shape of the tree; the in-flight cap changes neither.
    identity: JSON.stringify({ mode: 'llm', model: options.model, templates, batchSize: options.batchSize, maxBatchChars: options.maxBatchChars }),
    async distill(cwe: CweId, records: FixRecord[], entry: CweEntry | undefined) {
      const context = { cwe, cweName: entry?.name, language: records[0]?.language };
      const cases = records.map((r) => ({
        vulnerableCode: clip(r.before),
        patch: clip(createTwoFilesPatch('before', 'after', r.before, r.after, '', '', { context: 3 })),
      }));
      const leafBatches = batchBy(cases, options.batchSize, (c) => c.vulnerableCode.length + c.patch.length, options.maxBatchChars);
      const [guidelines, cause] = await Promise.all([
        recursiveSummarize(
          leafBatches,
          tree,
          async (batch) => (await counted(llm.run(guidelineExtractTemplate, { ...context, cases: batch }))).value.guidelines,
          async (lists) => (await counted(llm.run(guidelineMergeTemplate, { ...context, lists }))).value.guidelines,
        ),
        recursiveSummarize(
          records,
          tree,
          async (r) => (await counted(llm.run(causeAnalysisTemplate, { code: clip(r.before), language: r.language }))).value.cause,
          async (causes) => (await counted(llm.run(causeMergeTemplate, { ...context, causes }))).value.cause,
        ),
      ]);
      return { guidelines, cause, provenance: { mode: 'llm', model: options.model, templates } };
    },
  };
}
