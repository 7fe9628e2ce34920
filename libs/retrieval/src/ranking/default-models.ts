import defaultRanker from './default-ranker.json';
import { type RankerModel, validateRanker } from './linear-ranker';

/**
 * The ranker every KB uses until `rescue kb calibrate` fits its own: fitted by `rescue eval fit`
 * on the development sets (the JSON file beside this one says on what), checked when loaded. The
 * relevance gate has no default: each KB's is fitted on its own vocabulary (see `fitGate`).
 */
export const DEFAULT_RANKER: RankerModel = validateRanker(defaultRanker, 'libs/retrieval/src/ranking/default-ranker.json');
