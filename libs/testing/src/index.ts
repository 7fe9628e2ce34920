export * from './redis-harness';
export * from './fake-openai-server';
export * from './prebuilt-kb';
