import 'reflect-metadata';
import { loadConfigOrExit } from '@rescue/config';
import { onLlmCall } from '@rescue/llm';
import { superviseWorker, workerHealthEnv } from '@rescue/observability';
import { bootstrapWorker } from '@rescue/queue';
import { generatorWorkerEnv } from './generator-worker.config';
import { GeneratorWorkerModule } from './generator-worker.module';

const config = loadConfigOrExit('generator', generatorWorkerEnv);
// HEALTH_PORT (GET /health/live, /health/ready, /metrics) and SHUTDOWN_GRACE_MS, the bound on SIGTERM.
const health = loadConfigOrExit('generator', workerHealthEnv);
void bootstrapWorker('generator', GeneratorWorkerModule.register(config))
  .then(() => superviseWorker({ name: 'generator', redisUrl: config.REDIS_URL, env: health }))
  // LLM calls, tokens, latency and errors by role and class, for whichever stages make them.
  .then(({ metrics }) => onLlmCall((call) => metrics.recordLlmCall(call)));
