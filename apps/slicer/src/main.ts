import 'reflect-metadata';
import { loadConfigOrExit } from '@rescue/config';
import { bootstrapWorker } from '@rescue/queue';
import { slicerWorkerEnv } from './slicer-worker.config';
import { SlicerWorkerModule } from './slicer-worker.module';

void bootstrapWorker('slicer', SlicerWorkerModule.register(loadConfigOrExit('slicer', slicerWorkerEnv)));
