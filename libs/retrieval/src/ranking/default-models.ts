import defaultGate from './default-gate.json';
import defaultRanker from './default-ranker.json';
import { type RankerModel, validateRanker } from './linear-ranker';
import { type GateModel, validateGate } from './relevance-gate';

/**
 * The ranker and relevance gate every KB uses until `rescue kb calibrate` fits its own: fitted by
 * `rescue eval fit` on the development sets and our own task fixtures (the JSON files beside this
 * one say on what), checked when loaded.
 */
export const DEFAULT_RANKER: RankerModel = validateRanker(defaultRanker, 'libs/retrieval/src/ranking/default-ranker.json');
export const DEFAULT_GATE: GateModel = validateGate(defaultGate, 'libs/retrieval/src/ranking/default-gate.json');
