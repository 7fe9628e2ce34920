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
  if (m.mean.length !== names.length || m.scale.length !== names.length || m.weights.length !== names.length) throw new InvalidInputError(`${where}: ${names.length} features but ${m.weights.length} weights`);
  return m;
}

/** One task's candidates for fitting: their feature vectors and which are gold. */
export interface TrainingList {
  features: number[][];
  gold: boolean[];
}

export interface FitOptions {
  l2: number;
  epochs: number;
  learningRate: number;
}

export const DEFAULT_FIT: FitOptions = { l2: 0.01, epochs: 300, learningRate: 0.02 };

/**
 * Fits the weights by gradient descent (Adam, fixed steps, zero start: deterministic) on the
 * listwise loss −log Σ_gold softmax(score). Lists without a gold candidate teach nothing and are
 * skipped.
 */
export function fitRanker(lists: TrainingList[], facets: CweFacetName[], depth: number, fittedOn: string, options: FitOptions = DEFAULT_FIT): RankerModel {
  const features = featureNames(facets);
  const d = features.length;
  const usable = lists.filter((l) => l.gold.some(Boolean));
  const rows = usable.flatMap((l) => l.features);
  const mean = new Array<number>(d).fill(0);
  const scale = new Array<number>(d).fill(0);
  for (const x of rows) for (let j = 0; j < d; j++) mean[j] += x[j] / Math.max(1, rows.length);
  for (const x of rows) for (let j = 0; j < d; j++) scale[j] += (x[j] - mean[j]) ** 2 / Math.max(1, rows.length);
  for (let j = 0; j < d; j++) scale[j] = Math.sqrt(scale[j]) || 1;
  const z = usable.map((l) => l.features.map((x) => x.map((v, j) => Math.max(-CLIP, Math.min(CLIP, (v - mean[j]) / scale[j])))));
  const w = new Array<number>(d).fill(0);
  const m1 = new Array<number>(d).fill(0);
  const m2 = new Array<number>(d).fill(0);
  for (let epoch = 0; epoch < options.epochs; epoch++) {
    const g = new Array<number>(d).fill(0);
    usable.forEach((list, t) => {
      const s = z[t].map((x) => x.reduce((a, v, j) => a + v * w[j], 0));
      const top = Math.max(...s);
      const e = s.map((v) => Math.exp(v - top));
      const sum = e.reduce((a, b) => a + b, 0);
      const p = e.map((v) => v / sum);
      const goldMass = list.gold.reduce((a, y, i) => a + (y ? p[i] : 0), 0);
      z[t].forEach((x, i) => {
        const coef = p[i] - (list.gold[i] ? p[i] / goldMass : 0);
        for (let j = 0; j < d; j++) g[j] += coef * x[j];
      });
    });
    for (let j = 0; j < d; j++) {
      const gj = g[j] / Math.max(1, usable.length) + options.l2 * w[j];
      m1[j] = 0.9 * m1[j] + 0.1 * gj;
      m2[j] = 0.999 * m2[j] + 0.001 * gj * gj;
      w[j] -= (options.learningRate * (m1[j] / (1 - 0.9 ** (epoch + 1)))) / (Math.sqrt(m2[j] / (1 - 0.999 ** (epoch + 1))) + 1e-8);
    }
  }
  const round = (x: number): number => Math.round(x * 1e6) / 1e6;
  return { format: 'rescue-ranker-1', facets, features, mean: mean.map(round), scale: scale.map(round), weights: w.map(round), depth, fittedOn };
}
