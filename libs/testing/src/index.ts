export * from './redis-harness';
export * from './fake-openai-server';
export * from './prebuilt-kb';
export * from './bag-of-words-embedder';
