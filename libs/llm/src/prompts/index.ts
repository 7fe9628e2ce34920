import { causeAnalysisTemplate, causeMergeTemplate } from './causes';
import { guidelineExtractTemplate, guidelineMergeTemplate } from './guidelines';

export * from './causes';
export * from './context';
export * from './guidelines';
export * from './quote';
export * from './template';

/** Every template, for listing and for checking that ids are unique. */
export const PROMPT_TEMPLATES = [guidelineExtractTemplate, guidelineMergeTemplate, causeAnalysisTemplate, causeMergeTemplate] as const;
