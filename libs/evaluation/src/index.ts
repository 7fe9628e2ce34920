export * from './retrieval-metrics';
