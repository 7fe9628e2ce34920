import 'reflect-metadata';
import { bootstrapWorker } from '@rescue/queue';
import { loadIngestWorkerConfig } from './ingest-worker.config';
import { IngestWorkerModule } from './ingest-worker.module';

void bootstrapWorker('ingest', () => IngestWorkerModule.register(loadIngestWorkerConfig()));
