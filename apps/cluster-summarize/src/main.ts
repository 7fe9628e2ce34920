import 'reflect-metadata';
import { loadConfigOrExit, redisEnv } from '@rescue/config';
import { bootstrapWorker } from '@rescue/queue';
import { ClusterSummarizeWorkerModule } from './cluster-summarize-worker.module';

void bootstrapWorker('cluster-summarize', ClusterSummarizeWorkerModule.register(loadConfigOrExit('cluster-summarize', redisEnv)));
