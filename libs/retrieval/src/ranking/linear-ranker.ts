import { InvalidInputError } from '@rescue/domain';
import { type CweFacetName, CWE_FACETS } from './facets';
import { featureNames } from './features';

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
  let s = 0;
  for (let j = 0; j < model.weights.length; j++) s += model.weights[j] * Math.max(-CLIP, Math.min(CLIP, (features[j] - model.mean[j]) / model.scale[j]));
  return s;
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
  // Rankers fitted before the relevance gate weighed the facets' agreement carried a bar of their
  // own (keepAgreement); the gate's shape holds that now, so an old bar is dropped, not obeyed.
  const { keepAgreement: _superseded, ...model } = m as RankerModel & { keepAgreement?: number };
  return model;
}

/** One task's candidates for fitting: their feature vectors and which are gold, and the set it belongs to. */
export interface TrainingList {
  features: number[][];
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

/** A ranker of the simple family: every facet's reciprocal rank at weight 1, the {@link WEIGHTED_PRIORS} at `priorWeight`. */
export function simpleRanker(facets: CweFacetName[], depth: number, priorWeight: number, fittedOn: string): RankerModel {
  const features = featureNames(facets);
  return {
    format: 'rescue-ranker-1',
    facets,
    features,
    mean: features.map(() => 0),
    scale: features.map(() => 1),
    weights: features.map((f) => (f.startsWith('rank:') ? 1 : (WEIGHTED_PRIORS as readonly string[]).includes(f) ? priorWeight : 0)),
    depth,
    fittedOn,
  };
}

/** hit@4 + MRR of a ranker over some lists (the fit's objective for one set). */
function objective(model: RankerModel, lists: TrainingList[]): number {
  if (lists.length === 0) return 0;
  let hit4 = 0;
  let rr = 0;
  for (const l of lists) {
    const order = l.features.map((x, i) => ({ s: scoreCandidate(model, x), i })).sort((a, b) => b.s - a.s || a.i - b.i);
    const first = order.findIndex((o) => l.gold[o.i]);
    if (first >= 0 && first < 4) hit4 += 1;
    if (first >= 0 && first < 10) rr += 1 / (first + 1);
  }
  return (hit4 + rr) / lists.length;
}

/**
 * Fits the one free parameter of the simple ranker family, the prior weight, by grid search: the
 * weight with the best mean over the training sets of hit@4 + MRR (each set counts once, whatever
 * its size). Facet weights stay equal: with a few hundred tasks, fitting one weight per feature
 * fitted the sets' own label habits and lost on the set left out (leave-one-set-out, see the README).
 */
export function fitRanker(lists: TrainingList[], facets: CweFacetName[], depth: number, fittedOn: string): RankerModel {
  const sets = [...new Set(lists.map((l) => l.set))];
  let best = { weight: 0, score: -Infinity };
  for (const weight of PRIOR_WEIGHT_GRID) {
    const model = simpleRanker(facets, depth, weight, fittedOn);
    const score =
      sets.reduce(
        (sum, set) =>
          sum +
          objective(
            model,
            lists.filter((l) => l.set === set && l.gold.some(Boolean)),
          ),
        0,
      ) / Math.max(1, sets.length);
    if (score > best.score) best = { weight, score };
  }
  return simpleRanker(facets, depth, best.weight, `${fittedOn}; prior weight ${best.weight}`);
}
