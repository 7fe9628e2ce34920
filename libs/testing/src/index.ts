export * from './redis-harness';
