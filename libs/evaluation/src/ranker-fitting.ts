import { type CweFacetName, DEFAULT_FIT, type FitOptions, type GateModel, type RankerModel, type TermCounts, fitRanker, scoreCandidate } from '@rescue/retrieval';
import { type RetrievalMetrics, retrievalMetrics } from './retrieval-metrics';

/** One task's CWE level before ranking: what fitting and leave-one-set-out evaluation work from. */
export interface TaskAnalysis {
  set: string;
  /** The set holds only ordinary tasks. */
  negative: boolean;
  gold: string[];
  /** Whether a gold CWE has fix-pair data in the KB. */
  seen: boolean;
  candidates: { cwe: string; features: number[] }[];
  terms: string[];
}

export interface GateFitOptions {
  /** The share of security tasks the gate must let through on the sets it is fitted on. */
  keep: number;
  smoothing: number;
  vocabulary: number;
  topTerms: number;
}

export const DEFAULT_GATE_FIT: GateFitOptions = { keep: 0.95, smoothing: 0.5, vocabulary: 50_000, topTerms: 5 };

export interface FitInput {
  facets: CweFacetName[];
  depth: number;
  /** Term counts of ordinary programming tasks (the gate's "not about security" side). */
  ordinary: TermCounts;
  /** The gate's score of a query's terms against the KB, for a gate under fitting. */
  relevance: (terms: string[], gate: GateModel) => number;
  ranker?: FitOptions;
  gate?: GateFitOptions;
}

const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? -Infinity : s[Math.min(s.length - 1, Math.max(0, Math.floor(q * (s.length - 1))))];
};

/**
 * A ranker and a gate fitted on tasks with gold CWEs. The ranker by the listwise loss over each
 * task's candidates; the gate's threshold so that `keep` of those security tasks pass — fitted on
 * security tasks alone, so the sets of ordinary tasks measure it without having taught it.
 */
export function fitModels(train: TaskAnalysis[], input: FitInput, fittedOn: string): { ranker: RankerModel; gate: GateModel } {
  const positives = train.filter((t) => !t.negative && t.gold.length > 0);
  const ranker = fitRanker(
    positives.map((t) => ({ features: t.candidates.map((c) => c.features), gold: t.candidates.map((c) => t.gold.includes(c.cwe)) })),
    input.facets,
    input.depth,
    fittedOn,
    input.ranker ?? DEFAULT_FIT,
  );
  const g = input.gate ?? DEFAULT_GATE_FIT;
  const unfitted: GateModel = { format: 'rescue-gate-1', ordinary: input.ordinary, smoothing: g.smoothing, vocabulary: g.vocabulary, topTerms: g.topTerms, threshold: -Infinity, fittedOn };
  const scores = positives.map((t) => input.relevance(t.terms, unfitted));
  const threshold = Math.round(quantile(scores, 1 - g.keep) * 1e6) / 1e6;
  return { ranker, gate: { ...unfitted, threshold } };
}

/** CWEs of a task under a ranker (best first, at most 10) and whether the gate abstains. */
export function rankTask(t: TaskAnalysis, ranker: RankerModel, gate: GateModel | undefined, relevance: FitInput['relevance']): { ranked: string[]; abstained: boolean } {
  const abstained = gate !== undefined && relevance(t.terms, gate) < gate.threshold;
  const ranked = t.candidates
    .map((c) => ({ cwe: c.cwe, s: scoreCandidate(ranker, c.features) }))
    .sort((a, b) => b.s - a.s || (a.cwe < b.cwe ? -1 : 1))
    .slice(0, 10)
    .map((c) => c.cwe);
  return { ranked: abstained ? [] : ranked, abstained: abstained || ranked.length === 0 };
}

export interface HeldOutResult {
  held: string;
  negative: boolean;
  all: RetrievalMetrics;
  seen: RetrievalMetrics;
  unseen: RetrievalMetrics;
  fired: number;
  /** The same ranker without the gate: what ranking alone achieves. */
  ungated?: RetrievalMetrics;
}

/** Metrics of tasks ranked by a ranker and gated. */
export function measure(tasks: TaskAnalysis[], ranker: RankerModel, gate: GateModel | undefined, relevance: FitInput['relevance']): Omit<HeldOutResult, 'held' | 'negative'> {
  const outcomes = tasks.map((t) => ({ ...rankTask(t, ranker, gate, relevance), gold: t.gold, seen: t.seen }));
  const fired = outcomes.length === 0 ? 0 : Math.round((outcomes.filter((o) => !o.abstained).length / outcomes.length) * 1000) / 1000;
  return { all: retrievalMetrics(outcomes), seen: retrievalMetrics(outcomes.filter((o) => o.seen)), unseen: retrievalMetrics(outcomes.filter((o) => !o.seen && o.gold.length > 0)), fired };
}

/**
 * Leave-one-set-out: for each set, a ranker and gate fitted on the other sets, measured on it.
 * What the product is judged on (benchmarks it was not fitted on) is what this estimates.
 */
export function leaveOneSetOut(all: TaskAnalysis[], input: FitInput): HeldOutResult[] {
  const sets = [...new Set(all.map((t) => t.set))];
  return sets.map((held) => {
    const train = all.filter((t) => t.set !== held);
    const test = all.filter((t) => t.set === held);
    const { ranker, gate } = fitModels(train, input, `all sets but ${held}`);
    return { held, negative: test.every((t) => t.negative), ...measure(test, ranker, gate, input.relevance), ungated: measure(test, ranker, undefined, input.relevance).all };
  });
}
