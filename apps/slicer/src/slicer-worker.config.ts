import { z } from 'zod';
import { loadConfig, redisEnv, stageEnv, storageEnv } from '@rescue/config';

export const slicerWorkerEnv = redisEnv
  .extend(storageEnv.shape)
  .extend(stageEnv('SLICER').shape)
  .extend({ SLICER_TIME_BUDGET_MS: z.coerce.number().int().min(10).max(600_000).default(2000) });

export type SlicerWorkerConfig = ReturnType<typeof slicerWorkerEnv.parse>;

export const loadSlicerWorkerConfig = (env?: Record<string, string | undefined>): SlicerWorkerConfig => loadConfig(slicerWorkerEnv, env);
