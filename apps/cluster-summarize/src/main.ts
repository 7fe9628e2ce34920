import 'reflect-metadata';
import { loadConfigOrExit } from '@rescue/config';
import { onLlmCall } from '@rescue/llm';
import { superviseWorker, workerHealthEnv } from '@rescue/observability';
import { bootstrapWorker } from '@rescue/queue';
import { summarizeWorkerEnv } from './cluster-summarize-worker.config';
import { ClusterSummarizeWorkerModule } from './cluster-summarize-worker.module';

const config = loadConfigOrExit('cluster-summarize', summarizeWorkerEnv);
// HEALTH_PORT (GET /health/live, /health/ready, /metrics) and SHUTDOWN_GRACE_MS, the bound on SIGTERM.
const health = loadConfigOrExit('cluster-summarize', workerHealthEnv);
void bootstrapWorker('cluster-summarize', ClusterSummarizeWorkerModule.register(config))
  .then(() => superviseWorker({ name: 'cluster-summarize', redisUrl: config.REDIS_URL, env: health }))
  // LLM calls, tokens, latency and errors by role and class, for whichever stages make them.
  .then(({ metrics }) => onLlmCall((call) => metrics.recordLlmCall(call)));
