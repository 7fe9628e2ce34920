export * from './batch';
export * from './generate-task';
export * from './prompts';
export * from './generation-store';
export * from './security-context';
export * from './offline-retrieval';
