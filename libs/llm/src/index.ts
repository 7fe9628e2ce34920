export * from './cache';
export * from './classify-error';
export * from './config';
export * from './errors';
export * from './llm-client';
export * from './prompts';
