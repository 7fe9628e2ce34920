import { type CweFacetName, type GateFitOptions, type GateModel, type RankerModel, type TermCounts, facetAgreement, fitGate, fitRanker, scoreCandidate } from '@rescue/retrieval';
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

export interface FitInput {
  facets: CweFacetName[];
  depth: number;
  /** Search terms of each ordinary programming task (the gate's "not about security" side). */
  ordinary: string[][];
  /** The same ordinary tasks retrieved for: how often the facets agree on a CWE for a task that is not about security. */
  ordinaryAnalyses: TaskAnalysis[];
  /** The share of ordinary tasks the facets' agreement may keep past the gate. */
  agreementFired: number;
  /** The KB's term counts (the gate's "about security" side). */
  kb: TermCounts;
  /** The gate's score of a query's terms against the KB, for a gate under fitting. */
  relevance: (terms: string[], gate: GateModel) => number;
  gate?: GateFitOptions;
}

/**
 * A ranker and a gate fitted on tasks with gold CWEs. The ranker's prior weight by grid search
 * over the sets; the gate's threshold so that `keep` of those security tasks pass — fitted on
 * security tasks alone, so the sets of ordinary tasks measure it without having taught it.
 */
export function fitModels(train: TaskAnalysis[], input: FitInput, fittedOn: string): { ranker: RankerModel; gate: GateModel } {
  const positives = train.filter((t) => !t.negative && t.gold.length > 0);
  const ranker = fitRanker(
    positives.map((t) => ({ features: t.candidates.map((c) => c.features), gold: t.candidates.map((c) => t.gold.includes(c.cwe)), set: t.set })),
    input.facets,
    input.depth,
    fittedOn,
  );
  const agreements = input.ordinaryAnalyses.map((t) => topAgreement(t, ranker));
  const keepAgreement = agreements.length > 0 ? Math.round(quantile(agreements, 1 - input.agreementFired) * 1e6) / 1e6 : undefined;
  return { ranker: keepAgreement === undefined ? ranker : { ...ranker, keepAgreement }, gate: fitGate(input.ordinary, input.kb, input.gate) };
}

const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.floor(q * (s.length - 1))))];
};

/** The facet agreement on a task's best-ranked CWE. */
function topAgreement(t: TaskAnalysis, ranker: RankerModel): number {
  let best: { s: number; a: number } | undefined;
  for (const c of t.candidates) {
    const s = scoreCandidate(ranker, c.features);
    if (!best || s > best.s) best = { s, a: facetAgreement(ranker, c.features) };
  }
  return best?.a ?? 0;
}

/** CWEs of a task under a ranker (best first, at most 10) and whether the gate abstains. */
export function rankTask(t: TaskAnalysis, ranker: RankerModel, gate: GateModel | undefined, relevance: FitInput['relevance']): { ranked: string[]; abstained: boolean } {
  const kept = ranker.keepAgreement !== undefined && topAgreement(t, ranker) >= ranker.keepAgreement;
  const abstained = gate !== undefined && relevance(t.terms, gate) < gate.threshold && !kept;
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
