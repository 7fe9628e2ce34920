import 'reflect-metadata';
import { loadConfigOrExit, redisEnv } from '@rescue/config';
import { bootstrapWorker } from '@rescue/queue';
import { SlicerWorkerModule } from './slicer-worker.module';

void bootstrapWorker('slicer', SlicerWorkerModule.register(loadConfigOrExit('slicer', redisEnv)));
