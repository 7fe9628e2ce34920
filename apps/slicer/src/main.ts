import 'reflect-metadata';
import { loadConfigOrExit } from '@rescue/config';
import { onLlmCall } from '@rescue/llm';
import { superviseWorker, workerHealthEnv } from '@rescue/observability';
import { bootstrapWorker } from '@rescue/queue';
import { slicerWorkerEnv } from './slicer-worker.config';
import { SlicerWorkerModule } from './slicer-worker.module';

const config = loadConfigOrExit('slicer', slicerWorkerEnv);
// HEALTH_PORT (GET /health/live, /health/ready, /metrics) and SHUTDOWN_GRACE_MS, the bound on SIGTERM.
const health = loadConfigOrExit('slicer', workerHealthEnv);
void bootstrapWorker('slicer', SlicerWorkerModule.register(config))
  .then(() => superviseWorker({ name: 'slicer', redisUrl: config.REDIS_URL, env: health }))
  // LLM calls, tokens, latency and errors by role and class, for whichever stages make them.
  .then(({ metrics }) => onLlmCall((call) => metrics.recordLlmCall(call)));
