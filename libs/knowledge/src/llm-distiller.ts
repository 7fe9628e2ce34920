import { createTwoFilesPatch } from 'diff';
import type { CweEntry } from '@rescue/datasets';
import type { CweId, FixRecord } from '@rescue/domain';
import { type Llm, causeAnalysisTemplate, causeMergeTemplate, guidelineExtractTemplate, guidelineMergeTemplate, templateRef } from '@rescue/llm';
import type { ClusterDistiller } from './kb-assembly';
import { recursiveSummarize } from './recursive-summarize';

export interface LlmDistillerOptions {
  /** The paper's b: at most this many items per summarization call. */
  batchSize: number;
  /** Also cap a batch by characters of code (≈ tokens × 4), so long C functions do not overflow the context. */
  maxBatchChars: number;
  /** Calls in flight at once. */
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

/**
 * RESCUE's LLM distillation of one cluster (paper §3.3, Algorithm 1 by {@link recursiveSummarize}):
 * guidelines by the leaf prompt over batches of (vulnerable code, fix diff) and the merge prompt up
 * the levels; the cause by the cause-analysis prompt per vulnerable function, merged the same way. Every answer is validated
 * against its template's schema by the client, and cached by (model, template version, input), so
 * a rebuild calls the LLM only for what changed.
 */
export function llmDistiller(llm: Llm, options: LlmDistillerOptions): ClusterDistiller {
  const templates = [guidelineExtractTemplate, guidelineMergeTemplate, causeAnalysisTemplate, causeMergeTemplate].map(templateRef);
  return {
    mode: 'llm',
    async distill(cwe: CweId, records: FixRecord[], entry: CweEntry | undefined) {
      const context = { cwe, cweName: entry?.name, language: records[0]?.language };
      const cases = records.map((r) => ({
        vulnerableCode: clip(r.before),
        patch: clip(createTwoFilesPatch('before', 'after', r.before, r.after, '', '', { context: 3 })),
      }));
      const leafBatches = batchBy(cases, options.batchSize, (c) => c.vulnerableCode.length + c.patch.length, options.maxBatchChars);
      const guidelines = await recursiveSummarize(
        leafBatches,
        options,
        async (batch) => (await llm.run(guidelineExtractTemplate, { ...context, cases: batch })).value.guidelines,
        async (lists) => (await llm.run(guidelineMergeTemplate, { ...context, lists })).value.guidelines,
      );
      const cause = await recursiveSummarize(
        records,
        options,
        async (r) => (await llm.run(causeAnalysisTemplate, { code: clip(r.before), language: r.language })).value.cause,
        async (causes) => (await llm.run(causeMergeTemplate, { ...context, causes })).value.cause,
      );
      return { guidelines, cause, provenance: { mode: 'llm', model: options.model, templates } };
    },
  };
}
