import { z } from 'zod';
import { loadConfig, redisEnv, stageEnv, storageEnv } from '@rescue/config';

export const slicerWorkerEnv = redisEnv
  .extend(storageEnv.shape)
  .extend(stageEnv('SLICER').shape)
  .extend({
    // The wall-clock safety net per record, not its budget: the work count decides a record's
    // outcome, and a record past this net is retried, never stored (see WorkMeter).
    SLICER_TIME_BUDGET_MS: z.coerce.number().int().min(10).max(600_000).default(60_000),
    // How long a batch may go without its lock being renewed before another worker takes it over
    // (BullMQ's stalled-job recovery after a crash); and how often that is checked.
    SLICER_LOCK_DURATION_MS: z.coerce.number().int().min(1000).max(600_000).default(30_000),
    SLICER_STALLED_INTERVAL_MS: z.coerce.number().int().min(500).max(600_000).default(30_000),
  });

export type SlicerWorkerConfig = ReturnType<typeof slicerWorkerEnv.parse>;

export const loadSlicerWorkerConfig = (env?: Record<string, string | undefined>): SlicerWorkerConfig => loadConfig(slicerWorkerEnv, env);
