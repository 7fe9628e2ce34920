import 'reflect-metadata';
import { loadConfig, redisEnv } from '@rescue/config';
import { bootstrapWorker } from '@rescue/queue';
import { SlicerWorkerModule } from './slicer-worker.module';

void bootstrapWorker('slicer', () => SlicerWorkerModule.register(loadConfig(redisEnv)));
