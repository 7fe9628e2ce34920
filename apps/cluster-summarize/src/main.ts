import 'reflect-metadata';
import { loadConfigOrExit } from '@rescue/config';
import { bootstrapWorker } from '@rescue/queue';
import { summarizeWorkerEnv } from './cluster-summarize-worker.config';
import { ClusterSummarizeWorkerModule } from './cluster-summarize-worker.module';

void bootstrapWorker('cluster-summarize', ClusterSummarizeWorkerModule.register(loadConfigOrExit('cluster-summarize', summarizeWorkerEnv)));
