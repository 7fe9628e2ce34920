import 'reflect-metadata';
import { loadConfigOrExit } from '@rescue/config';
import { bootstrapWorker } from '@rescue/queue';
import { ingestWorkerEnv } from './ingest-worker.config';
import { IngestWorkerModule } from './ingest-worker.module';

void bootstrapWorker('ingest', IngestWorkerModule.register(loadConfigOrExit('ingest', ingestWorkerEnv)));
