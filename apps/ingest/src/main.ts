import 'reflect-metadata';
import { loadConfigOrExit } from '@rescue/config';
import { onLlmCall } from '@rescue/llm';
import { superviseWorker, workerHealthEnv } from '@rescue/observability';
import { bootstrapWorker } from '@rescue/queue';
import { ingestWorkerEnv } from './ingest-worker.config';
import { IngestWorkerModule } from './ingest-worker.module';

const config = loadConfigOrExit('ingest', ingestWorkerEnv);
// HEALTH_PORT (GET /health/live, /health/ready, /metrics) and SHUTDOWN_GRACE_MS, the bound on SIGTERM.
const health = loadConfigOrExit('ingest', workerHealthEnv);
void bootstrapWorker('ingest', IngestWorkerModule.register(config))
  .then(() => superviseWorker({ name: 'ingest', redisUrl: config.REDIS_URL, env: health }))
  // LLM calls, tokens, latency and errors by role and class, for whichever stages make them.
  .then(({ metrics }) => onLlmCall((call) => metrics.recordLlmCall(call)));
