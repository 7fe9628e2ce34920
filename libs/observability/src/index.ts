export * from './logger';
export * from './metrics';
export * from './shutdown';
export * from './worker-health';
export * from './worker-supervision';
