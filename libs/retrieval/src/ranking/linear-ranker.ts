import { InvalidInputError } from '@rescue/domain';
import { type CweFacetName, CWE_FACETS } from './facets';
import { type Candidate, featureNames } from './features';

/**
 * A linear scoring of candidate CWEs over standardized features, fitted to put a task's gold CWE
 * first (listwise: softmax over a task's candidates). Plain numbers in JSON, stored with the
 * code (the default, fitted on the development sets) or beside a KB version (`kb calibrate`).
 */
export interface RankerModel {
  format: 'rescue-ranker-1';
  facets: CweFacetName[];
  features: string[];
  mean: number[];
  scale: number[];
  weights: number[];
  /** Candidates per facet (ranks beyond count 0). */
  depth: number;
  /**
   * A facet's reciprocal rank counts raised to this power (absent: 1). Below 1 the curve is
   * flatter: a weakness third in three facets can outweigh one first in a single facet.
   */
  rankExponent?: number;
  /** Whether the top k hold one weakness per lineage, none beneath or above another kept one (see {@link rankCandidates}; absent: false). */
  diversifyLineage?: boolean;
  /** What it was fitted on, for the record. */
  fittedOn: string;
}

/** Standardized features are clipped: one extreme value must not decide a ranking on its own. */
const CLIP = 5;

/**
 * The facet agreement of a candidate: the sum of its reciprocal ranks over the facets. When
 * several sources independently point at one weakness, the task is likelier about it, however
 * ordinary its words: the relevance gate weighs it (see `GateShape`).
 */
export function facetAgreement(model: RankerModel, features: number[]): number {
  let s = 0;
  for (let j = 0; j < model.facets.length; j++) s += features[j];
  return s;
}

export function scoreCandidate(model: RankerModel, features: number[]): number {
  const power = model.rankExponent ?? 1;
  const ranks = model.facets.length;
  let s = 0;
  for (let j = 0; j < model.weights.length; j++) {
    const x = j < ranks && power !== 1 ? features[j] ** power : features[j];
    s += model.weights[j] * Math.max(-CLIP, Math.min(CLIP, (x - model.mean[j]) / model.scale[j]));
  }
  return s;
}

export interface RankedCandidate {
  cwe: string;
  score: number;
  /** See {@link facetAgreement}. */
  agreement: number;
}

/**
 * Candidates best first by the model's score. With `diversifyLineage`, the first `topK` places
 * go to weaknesses of different lineages: none descends (within the candidates' known ancestors)
 * from another placed before it, nor is an ancestor of one; a candidate so passed over follows the
 * top k in its own order. A variant beneath a weakness already kept, or the class above one, adds
 * little guidance the kept one lacks, while the place it takes could hold a different weakness the
 * task invites (password hashing answered with CWE-916, 327 and 759, one lineage, when the task's
 * credentials are CWE-522). Passing over ancestors too was measured on the development sets: two
 * CWE-522 tasks of llmseceval reach the top 4, one cweval task naming CWE-327 after CWE-916 falls
 * from 2nd to 5th, nothing else moves.
 */
export function rankCandidates(model: RankerModel, candidates: Candidate[], topK: number): RankedCandidate[] {
  const scored = candidates
    .map((c) => ({ cwe: c.cwe, score: scoreCandidate(model, c.features), agreement: facetAgreement(model, c.features), ancestors: c.ancestors }))
    .sort((a, b) => b.score - a.score || (a.cwe < b.cwe ? -1 : 1));
  const strip = ({ cwe, score, agreement }: (typeof scored)[number]): RankedCandidate => ({ cwe, score, agreement });
  if (!model.diversifyLineage) return scored.map(strip);
  const top: typeof scored = [];
  const later: typeof scored = [];
  for (const c of scored) {
    if (top.length < topK && !top.some((kept) => c.ancestors?.includes(kept.cwe) || kept.ancestors?.includes(c.cwe))) top.push(c);
    else later.push(c);
  }
  return [...top, ...later].map(strip);
}

/** Checks a model read from a file: its facets exist and its vectors agree in length. */
export function validateRanker(value: unknown, where: string): RankerModel {
  const m = value as RankerModel;
  if (!m || m.format !== 'rescue-ranker-1' || !Array.isArray(m.facets) || !Array.isArray(m.weights)) throw new InvalidInputError(`${where} is not a Rescue ranker model (format rescue-ranker-1)`);
  for (const f of m.facets) if (!Object.hasOwn(CWE_FACETS, f)) throw new InvalidInputError(`${where}: unknown facet ${JSON.stringify(f)}`);
  const names = featureNames(m.facets);
  if (JSON.stringify(names) !== JSON.stringify(m.features)) throw new InvalidInputError(`${where}: its features (${m.features.join(', ')}) are not this version's (${names.join(', ')}); fit it again`);
  if (m.mean.length !== names.length || m.scale.length !== names.length || m.weights.length !== names.length)
    throw new InvalidInputError(`${where}: ${names.length} features but ${m.weights.length} weights`);
  if (m.rankExponent !== undefined && !(typeof m.rankExponent === 'number' && m.rankExponent > 0 && m.rankExponent <= 4))
    throw new InvalidInputError(`${where}: rankExponent ${JSON.stringify(m.rankExponent)} is not a number in (0, 4]`);
  if (m.diversifyLineage !== undefined && typeof m.diversifyLineage !== 'boolean') throw new InvalidInputError(`${where}: diversifyLineage must be true or false`);
  // Rankers fitted before the relevance gate weighed the facets' agreement carried a bar of their
  // own (keepAgreement); the gate's shape holds that now, so an old bar is dropped, not obeyed.
  const { keepAgreement: _superseded, ...model } = m as RankerModel & { keepAgreement?: number };
  return model;
}

/** One task's candidates for fitting: their feature vectors and which are gold, and the set it belongs to. */
export interface TrainingList {
  candidates: Candidate[];
  /** Per candidate, whether it is a gold CWE. */
  gold: boolean[];
  set: string;
}

/**
 * The priors a ranker weighs, each with the one shared weight the fit chooses: whether the
 * catalogue says the weakness occurs in the task's language, how many real vulnerabilities the
 * catalogue cites for it, and how many CodeQL queries look for it. Each says how likely the
 * weakness is before the task's words are read, and none depends on which weaknesses the KB's
 * fix datasets happen to cover (a prior on fixes per language helped the sets drawn from those
 * datasets and cost the tasks whose weakness has no fix pairs: most tasks of the benchmarks).
 */
export const WEIGHTED_PRIORS = ['platformFit', 'observedExamples', 'codeqlQueries'] as const;

/** The prior weights tried (0: facets alone). */
export const PRIOR_WEIGHT_GRID = [0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4] as const;

/** The rank exponents tried, plain reciprocal ranks (1) first: what a tie keeps. */
export const RANK_EXPONENT_GRID = [1, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3] as const;

/** The CWEs kept, as the product keeps them (the paper's k): what the fit's hit@4 and diversification count. */
const FIT_TOP_K = 4;

/**
 * A ranker of the simple family: every facet's reciprocal rank at weight 1 raised to
 * `rankExponent`, the {@link WEIGHTED_PRIORS} at `priorWeight`, the top k diversified by lineage.
 */
export function simpleRanker(facets: CweFacetName[], depth: number, priorWeight: number, fittedOn: string, rankExponent = 1): RankerModel {
  const features = featureNames(facets);
  return {
    format: 'rescue-ranker-1',
    facets,
    features,
    mean: features.map(() => 0),
    scale: features.map(() => 1),
    weights: features.map((f) => (f.startsWith('rank:') ? 1 : (WEIGHTED_PRIORS as readonly string[]).includes(f) ? priorWeight : 0)),
    depth,
    rankExponent,
    diversifyLineage: true,
    fittedOn,
  };
}

/** hit@4 + MRR of a ranker over some lists (the fit's objective for one set). */
function objective(model: RankerModel, lists: TrainingList[]): number {
  if (lists.length === 0) return 0;
  let hit4 = 0;
  let rr = 0;
  for (const l of lists) {
    const gold = new Set(l.candidates.filter((_, i) => l.gold[i]).map((c) => c.cwe));
    const first = rankCandidates(model, l.candidates, FIT_TOP_K).findIndex((o) => gold.has(o.cwe));
    if (first >= 0 && first < 4) hit4 += 1;
    if (first >= 0 && first < 10) rr += 1 / (first + 1);
  }
  return (hit4 + rr) / lists.length;
}

/**
 * Fits the two free parameters of the simple ranker family, the rank exponent and the prior
 * weight, by grid search: the pair with the best mean over the training sets of hit@4 + MRR (each
 * set counts once, whatever its size; the first pair on a tie). Facet weights stay equal: with a
 * few hundred tasks, fitting one weight per feature fitted the sets' own label habits and lost on
 * the set left out (leave-one-set-out, see the README).
 */
export function fitRanker(lists: TrainingList[], facets: CweFacetName[], depth: number, fittedOn: string): RankerModel {
  const sets = [...new Set(lists.map((l) => l.set))];
  const bySet = sets.map((set) => lists.filter((l) => l.set === set && l.gold.some(Boolean)));
  let best = { exponent: 1, weight: 0, score: -Infinity };
  for (const exponent of RANK_EXPONENT_GRID)
    for (const weight of PRIOR_WEIGHT_GRID) {
      const model = simpleRanker(facets, depth, weight, fittedOn, exponent);
      const score = bySet.reduce((sum, set) => sum + objective(model, set), 0) / Math.max(1, sets.length);
      if (score > best.score) best = { exponent, weight, score };
    }
  return simpleRanker(facets, depth, best.weight, `${fittedOn}; rank exponent ${best.exponent}, prior weight ${best.weight}`, best.exponent);
}
