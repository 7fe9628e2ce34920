import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { RedisEnv, StorageEnv } from '@rescue/config';
import { FsRecordStore, type RecordStore, RedisRecordStore } from '@rescue/datasets';
import { FsGenerationStore, type GenerationStore, RedisGenerationStore } from '@rescue/generation';
import { connectionOptions } from '@rescue/queue';
import type { SliceDocument } from '@rescue/slicing';
import { type BuildStaging, FsBuildStaging, RedisBuildStaging } from './build-staging';

/**
 * Everything the pipeline keeps between jobs: fix records, slices, the clusters a build stages for
 * its index job, and generation batches. Each app uses the ones its stage reads or writes.
 */
export interface PipelineStores {
  records: RecordStore;
  slices: RecordStore<SliceDocument>;
  staging: BuildStaging;
  generation: GenerationStore;
  /** Closes the stores and the Redis connection they were opened on (when there is one). */
  close(): Promise<void>;
}

export type StoresConfig = Pick<StorageEnv, 'RECORD_STORE' | 'RESCUE_DATA_DIR'> & Pick<RedisEnv, 'REDIS_URL' | 'QUEUE_PREFIX'>;

/**
 * The one place a store backend is chosen, by `RECORD_STORE`: folders under `RESCUE_DATA_DIR`
 * (`fs`, the embedded default; a volume the workers share), or hashes under `QUEUE_PREFIX` in
 * Redis (`redis`), on one connection these stores own. The connection is a worker connection: it
 * waits out a Redis restart instead of failing a job that would pass a second later.
 */
export function openStores(config: StoresConfig): PipelineStores {
  if (config.RECORD_STORE === 'redis') {
    const redis = new Redis(connectionOptions('worker', config.REDIS_URL));
    const prefix = config.QUEUE_PREFIX;
    const records = new RedisRecordStore(redis, prefix, 'records');
    const slices = new RedisRecordStore<SliceDocument>(redis, prefix, 'slices');
    return {
      records,
      slices,
      staging: new RedisBuildStaging(redis, prefix),
      generation: new RedisGenerationStore(redis, prefix),
      close: async () => {
        await Promise.all([records.close(), slices.close()]);
        redis.disconnect();
      },
    };
  }
  const dataDir = config.RESCUE_DATA_DIR;
  const records = new FsRecordStore(join(dataDir, 'records'));
  const slices = new FsRecordStore<SliceDocument>(join(dataDir, 'slices'));
  return {
    records,
    slices,
    staging: new FsBuildStaging(dataDir),
    generation: new FsGenerationStore(dataDir),
    close: async () => {
      await Promise.all([records.close(), slices.close()]);
    },
  };
}
