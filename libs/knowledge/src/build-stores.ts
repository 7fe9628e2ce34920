import { type Redis } from 'ioredis';
import { type RecordStore, type RecordStoreKind, createRecordStore } from '@rescue/datasets';
import type { SliceDocument } from '@rescue/slicing';
import { type BuildStaging, FsBuildStaging, RedisBuildStaging } from './build-staging';

export interface BuildStores {
  records: RecordStore;
  slices: RecordStore<SliceDocument>;
  staging: BuildStaging;
}

/** The stores a distributed build shares between workers: folders under a shared data dir, or Redis. */
export function buildStores(kind: RecordStoreKind, opts: { dataDir: string; redis?: Redis; prefix: string }): BuildStores {
  return {
    records: createRecordStore(kind, opts),
    slices: createRecordStore<SliceDocument>(kind, { ...opts, collection: 'slices' }),
    staging: kind === 'redis' && opts.redis ? new RedisBuildStaging(opts.redis, opts.prefix) : new FsBuildStaging(opts.dataDir),
  };
}
