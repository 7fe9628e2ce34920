export * from './embedding/embedder';
export * from './embedding/text-tokens';
export * from './embedding/vectors';
export * from './embedding/linalg';
export * from './embedding/lsa-embedder';
export * from './embedding/hashing-embedder';
export * from './knowledge-index/lance-knowledge-index';
