import 'reflect-metadata';
import { loadConfigOrExit } from '@rescue/config';
import { bootstrapWorker } from '@rescue/queue';
import { generatorWorkerEnv } from './generator-worker.config';
import { GeneratorWorkerModule } from './generator-worker.module';

void bootstrapWorker('generator', GeneratorWorkerModule.register(loadConfigOrExit('generator', generatorWorkerEnv)));
