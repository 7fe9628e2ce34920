export * from './retrieval-metrics';
export * from './evaluation-sets';
export * from './naive-baselines';
export * from './retrieval-evaluation';
export * from './ranker-fitting';
export * from './kb-evaluation';
