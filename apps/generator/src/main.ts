import 'reflect-metadata';
import { loadConfigOrExit, redisEnv } from '@rescue/config';
import { bootstrapWorker } from '@rescue/queue';
import { GeneratorWorkerModule } from './generator-worker.module';

void bootstrapWorker('generator', GeneratorWorkerModule.register(loadConfigOrExit('generator', redisEnv)));
