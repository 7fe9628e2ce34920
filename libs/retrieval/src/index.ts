export * from './knowledge-index/lance-knowledge-index';
