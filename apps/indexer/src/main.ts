import 'reflect-metadata';
import { loadConfigOrExit, redisEnv } from '@rescue/config';
import { bootstrapWorker } from '@rescue/queue';
import { IndexerWorkerModule } from './indexer-worker.module';

void bootstrapWorker('indexer', IndexerWorkerModule.register(loadConfigOrExit('indexer', redisEnv)));
