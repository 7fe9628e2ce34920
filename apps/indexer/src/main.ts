import 'reflect-metadata';
import { loadConfigOrExit } from '@rescue/config';
import { bootstrapWorker } from '@rescue/queue';
import { indexerWorkerEnv } from './indexer-worker.config';
import { IndexerWorkerModule } from './indexer-worker.module';

void bootstrapWorker('indexer', IndexerWorkerModule.register(loadConfigOrExit('indexer', indexerWorkerEnv)));
