import { llmEnv, loadConfig, redisEnv, stageEnv, storageEnv } from '@rescue/config';

export const summarizeWorkerEnv = redisEnv.extend(storageEnv.shape).extend(stageEnv('SUMMARIZE').shape).extend(llmEnv.shape);

export type SummarizeWorkerConfig = ReturnType<typeof summarizeWorkerEnv.parse>;

export const loadSummarizeWorkerConfig = (env?: Record<string, string | undefined>): SummarizeWorkerConfig => loadConfig(summarizeWorkerEnv, env);
