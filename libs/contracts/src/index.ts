export * from './job-id';
export * from './payloads';
export * from './pipeline';
export * from './queues';
export * from './job-api';
