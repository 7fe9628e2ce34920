import { ingestEnv, loadConfig, redisEnv, stageEnv, storageEnv } from '@rescue/config';

export const ingestWorkerEnv = redisEnv.extend(storageEnv.shape).extend(ingestEnv.shape).extend(stageEnv('INGEST').shape);

export type IngestWorkerConfig = ReturnType<typeof ingestWorkerEnv.parse>;

export const loadIngestWorkerConfig = (env?: Record<string, string | undefined>): IngestWorkerConfig => loadConfig(ingestWorkerEnv, env);
