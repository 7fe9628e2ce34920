import 'reflect-metadata';
import { loadConfig, redisEnv } from '@rescue/config';
import { bootstrapWorker } from '@rescue/queue';
import { ClusterSummarizeWorkerModule } from './cluster-summarize-worker.module';

void bootstrapWorker('cluster-summarize', () => ClusterSummarizeWorkerModule.register(loadConfig(redisEnv)));
