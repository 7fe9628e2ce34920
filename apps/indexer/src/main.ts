import 'reflect-metadata';
import { loadConfigOrExit } from '@rescue/config';
import { onLlmCall } from '@rescue/llm';
import { superviseWorker, workerHealthEnv } from '@rescue/observability';
import { bootstrapWorker } from '@rescue/queue';
import { indexerWorkerEnv } from './indexer-worker.config';
import { IndexerWorkerModule } from './indexer-worker.module';

const config = loadConfigOrExit('indexer', indexerWorkerEnv);
// HEALTH_PORT (GET /health/live, /health/ready, /metrics) and SHUTDOWN_GRACE_MS, the bound on SIGTERM.
const health = loadConfigOrExit('indexer', workerHealthEnv);
void bootstrapWorker('indexer', IndexerWorkerModule.register(config))
  .then(() => superviseWorker({ name: 'indexer', redisUrl: config.REDIS_URL, env: health }))
  // LLM calls, tokens, latency and errors by role and class, for whichever stages make them.
  .then(({ metrics }) => onLlmCall((call) => metrics.recordLlmCall(call)));
