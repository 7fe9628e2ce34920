import { elasticsearchEnv, llmEnv, loadConfig, redisEnv, stageEnv, storageEnv } from '@rescue/config';

export const indexerWorkerEnv = redisEnv.extend(storageEnv.shape).extend(stageEnv('INDEXER').shape).extend(llmEnv.shape).extend(elasticsearchEnv.shape);

export type IndexerWorkerConfig = ReturnType<typeof indexerWorkerEnv.parse>;

export const loadIndexerWorkerConfig = (env?: Record<string, string | undefined>): IndexerWorkerConfig => loadConfig(indexerWorkerEnv, env);
