export * from './bootstrap';
export * from './error-mapping';
export * from './job-options';
export * from './pipeline-queue';
export * from './queue.module';
export * from './queue-watch';
export * from './redis-connection';
export * from './settled-job';
