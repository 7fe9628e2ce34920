import defaultGateShape from './default-gate-shape.json';
import defaultRanker from './default-ranker.json';
import { type RankerModel, validateRanker } from './linear-ranker';
import { type GateShape, validateGateShape } from './relevance-gate';

/**
 * The ranker every KB uses until `rescue kb calibrate` fits its own: fitted by `rescue eval fit`
 * on the development sets (the JSON file beside this one says on what), checked when loaded.
 */
export const DEFAULT_RANKER: RankerModel = validateRanker(defaultRanker, 'libs/retrieval/src/ranking/default-ranker.json');

/**
 * How the relevance gate weighs a task's length and the facets' agreement, fitted by the same
 * `rescue eval fit`. The gate's threshold has no default: each KB's is fitted on its own
 * vocabulary when it is opened (see `fitGate`).
 */
export const DEFAULT_GATE_SHAPE: GateShape = validateGateShape(defaultGateShape.shape, 'libs/retrieval/src/ranking/default-gate-shape.json');
