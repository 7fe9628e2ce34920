import {
  type Candidate,
  type CweFacetName,
  DEFAULT_GATE_FIT,
  type GateFitOptions,
  type GateModel,
  type GateShape,
  type RankerModel,
  type TermCounts,
  rankCandidates,
  fitGates,
  fitRanker,
  gateScore,
} from '@rescue/retrieval';
import { type RetrievalMetrics, retrievalMetrics } from './retrieval-metrics';

/** One task's CWE level before ranking: what fitting and leave-one-set-out evaluation work from. */
export interface TaskAnalysis {
  set: string;
  /** The set holds only ordinary tasks. */
  negative: boolean;
  gold: string[];
  /** Whether a gold CWE has fix-pair data in the KB. */
  seen: boolean;
  candidates: Candidate[];
  /** The task's search terms, each once. */
  terms: string[];
}

export interface FitInput {
  facets: CweFacetName[];
  depth: number;
  /** Search terms of each ordinary programming task (the gate's "not about security" side). */
  ordinary: string[][];
  /** The same ordinary tasks retrieved for: the facets' agreement they reach sets the gate's agreement centre. */
  ordinaryAnalyses: TaskAnalysis[];
  /** The KB's term counts (the gate's "about security" side). */
  kb: TermCounts;
  /** The gate's lexical score of a query's terms against the KB, for a gate under fitting. */
  relevance: (terms: string[], gate: GateModel) => number;
  gate?: GateFitOptions;
}

/** The most any set of ordinary tasks among the training sets may be given context by a fitted gate (the product's goal). */
export const MAX_NEGATIVE_FIRED = 0.1;

/** The gate shapes tried: length weights by agreement weights, the lexical gate (0, 0) first. */
export const GATE_SHAPE_GRID = { lengthWeight: [0, 0.5, 1, 1.5, 2], agreementWeight: [0, 0.1, 0.2, 0.3, 0.5] } as const;

/**
 * A ranker and a gate fitted on tasks with gold CWEs. The ranker's prior weight by grid search
 * over the sets. The gate's shape (how much a task's length and the facets' agreement count beside
 * its words) by grid search too: the shape with the best mean hit@4 + MRR over the training sets
 * with gold CWEs, each gate's threshold set on our ordinary fixtures alone (`ordinaryFired` of
 * them pass, out of fold), among the shapes that give no training set of ordinary tasks context
 * more than {@link MAX_NEGATIVE_FIRED} of the time. The agreement centre is the median agreement
 * the fixtures reach on this KB.
 */
export function fitModels(train: TaskAnalysis[], input: FitInput, fittedOn: string): { ranker: RankerModel; gate: GateModel } {
  const positives = train.filter((t) => !t.negative && t.gold.length > 0);
  const ranker = fitRanker(
    positives.map((t) => ({ candidates: t.candidates, gold: t.candidates.map((c) => t.gold.includes(c.cwe)), set: t.set })),
    input.facets,
    input.depth,
    fittedOn,
  );
  const agreementCenter = Math.round(median(input.ordinaryAnalyses.map((t) => topAgreement(t, ranker))) * 1e6) / 1e6;
  const shapes: GateShape[] = GATE_SHAPE_GRID.lengthWeight.flatMap((lengthWeight) => GATE_SHAPE_GRID.agreementWeight.map((agreementWeight) => ({ lengthWeight, agreementWeight, agreementCenter })));
  const gates = fitGates(input.ordinary, input.kb, input.gate ?? DEFAULT_GATE_FIT, shapes);
  // The ranking, the agreement and (every gate shares the ordinary counts) the lexical score of a
  // task are the same under every shape: worked out once, each shape only decides who abstains.
  const ranked = new Map(train.map((t) => [t, { ...rankedCwes(t, ranker), lexical: input.relevance(t.terms, gates[0]) }]));
  const sets = [...new Set(train.map((t) => t.set))];
  const judged = gates.map((gate) => {
    let score = 0;
    let scored = 0;
    let worstFired = 0;
    for (const set of sets) {
      const tasks = train.filter((t) => t.set === set);
      const outcomes = tasks.map((t) => {
        const r = ranked.get(t) as ReturnType<typeof rankedCwes> & { lexical: number };
        const abstained = gateScore(r.lexical, t.terms.length, r.agreement, gate.shape) < gate.threshold || r.ranked.length === 0;
        return { ranked: abstained ? [] : r.ranked, abstained, gold: t.gold, seen: t.seen };
      });
      if (tasks.every((t) => t.negative)) {
        worstFired = Math.max(worstFired, outcomes.filter((o) => !o.abstained).length / Math.max(1, outcomes.length));
      } else {
        const m = retrievalMetrics(outcomes.filter((o) => o.gold.length > 0));
        score += m.hitAt4 + m.mrr;
        scored += 1;
      }
    }
    return { gate, score: score / Math.max(1, scored), worstFired };
  });
  // The best score among the shapes within the limit (the first on a tie); with none within it, the one that fires least.
  const feasible = judged.filter((j) => j.worstFired <= MAX_NEGATIVE_FIRED);
  const best = feasible.length > 0 ? feasible.reduce((a, b) => (b.score > a.score ? b : a)) : judged.reduce((a, b) => (b.worstFired < a.worstFired ? b : a));
  const gate = best.gate;
  const s = gate.shape;
  return { ranker, gate: { ...gate, fittedOn: `${gate.fittedOn}; shape fitted on ${fittedOn}: length weight ${s.lengthWeight}, agreement weight ${s.agreementWeight} about ${s.agreementCenter}` } };
}

const median = (xs: number[]): number => {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)];
};

/** The CWEs the product keeps (the paper's k): the ranker diversifies that many places. */
const TOP_K = 4;

/** The facet agreement on a task's best-ranked CWE. */
function topAgreement(t: TaskAnalysis, ranker: RankerModel): number {
  return rankCandidates(ranker, t.candidates, TOP_K)[0]?.agreement ?? 0;
}

/** A task's CWEs under a ranker (best first, at most 10) and the facets' agreement on the first. */
function rankedCwes(t: TaskAnalysis, ranker: RankerModel): { ranked: string[]; agreement: number } {
  const all = rankCandidates(ranker, t.candidates, TOP_K);
  return { ranked: all.slice(0, 10).map((c) => c.cwe), agreement: all[0]?.agreement ?? 0 };
}

/** CWEs of a task under a ranker (best first, at most 10) and whether the gate abstains. */
export function rankTask(t: TaskAnalysis, ranker: RankerModel, gate: GateModel | undefined, relevance: FitInput['relevance']): { ranked: string[]; abstained: boolean } {
  const { ranked, agreement } = rankedCwes(t, ranker);
  const abstained = (gate !== undefined && gateScore(relevance(t.terms, gate), t.terms.length, agreement, gate.shape) < gate.threshold) || ranked.length === 0;
  return { ranked: abstained ? [] : ranked, abstained };
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
