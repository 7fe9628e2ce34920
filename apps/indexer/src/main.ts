import 'reflect-metadata';
import { loadConfig, redisEnv } from '@rescue/config';
import { bootstrapWorker } from '@rescue/queue';
import { IndexerWorkerModule } from './indexer-worker.module';

void bootstrapWorker('indexer', () => IndexerWorkerModule.register(loadConfig(redisEnv)));
