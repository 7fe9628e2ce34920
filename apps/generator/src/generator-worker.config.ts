import { elasticsearchEnv, llmEnv, loadConfig, redisEnv, stageEnv, storageEnv } from '@rescue/config';

export const generatorWorkerEnv = redisEnv.extend(storageEnv.shape).extend(stageEnv('GENERATOR').shape).extend(llmEnv.shape).extend(elasticsearchEnv.shape);

export type GeneratorWorkerConfig = ReturnType<typeof generatorWorkerEnv.parse>;

export const loadGeneratorWorkerConfig = (env?: Record<string, string | undefined>): GeneratorWorkerConfig => loadConfig(generatorWorkerEnv, env);
