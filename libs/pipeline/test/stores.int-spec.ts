import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { FsRecordStore, RedisRecordStore, normalizeGenericRecord } from '@rescue/datasets';
import { InvalidInputError } from '@rescue/domain';
import { FsGenerationStore, RedisGenerationStore } from '@rescue/generation';
import { FsBuildStaging, RedisBuildStaging, openStores } from '@rescue/pipeline';
import { type SliceDocument, sliceId } from '@rescue/slicing';
import { deletePrefix, testRedisUrl, uniquePrefix } from '@rescue/testing';

function record() {
  const r = normalizeGenericRecord({ language: 'python', cwe: 'CWE-79', before: 'v = input()\nuse(v)\n', after: 'v = clean(input())\nuse(v)\n' }, { file: 'mem.jsonl', line: 1, format: 'generic' });
  if (!r.ok) throw new InvalidInputError(r.problem.message);
  return r.record;
}

describe('openStores', () => {
  let dataDir: string;
  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'rescue-stores-'));
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  it('opens folders under RESCUE_DATA_DIR for RECORD_STORE=fs, and no Redis connection', async () => {
    const stores = openStores({ RECORD_STORE: 'fs', RESCUE_DATA_DIR: dataDir, REDIS_URL: 'redis://127.0.0.1:1', QUEUE_PREFIX: 'unused' });
    try {
      expect(stores.records).toBeInstanceOf(FsRecordStore);
      expect((stores.records as FsRecordStore).dir).toBe(join(dataDir, 'records'));
      expect((stores.slices as FsRecordStore<SliceDocument>).dir).toBe(join(dataDir, 'slices'));
      expect(stores.staging).toBeInstanceOf(FsBuildStaging);
      expect(stores.generation).toBeInstanceOf(FsGenerationStore);
      await stores.records.putMany([record()]);
      expect(await new FsRecordStore(join(dataDir, 'records')).count()).toBe(1);
    } finally {
      await stores.close();
    }
  });

  it('opens hashes under QUEUE_PREFIX for RECORD_STORE=redis, on one connection that close() ends', async () => {
    const prefix = uniquePrefix('stores');
    const redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: 1 });
    const stores = openStores({ RECORD_STORE: 'redis', RESCUE_DATA_DIR: dataDir, REDIS_URL: testRedisUrl(), QUEUE_PREFIX: prefix });
    try {
      expect(stores.records).toBeInstanceOf(RedisRecordStore);
      expect(stores.staging).toBeInstanceOf(RedisBuildStaging);
      expect(stores.generation).toBeInstanceOf(RedisGenerationStore);
      const r = record();
      await stores.records.putMany([r]);
      expect(await redis.hexists(`${prefix}:records`, r.id)).toBe(1);
      expect(JSON.parse((await redis.hget(`${prefix}:records`, r.id)) as string)).toEqual(r);
      const failed: SliceDocument = { status: 'failed', id: sliceId(r.id, 2), hops: 2, recordId: r.id, language: r.language, cwe: r.cwe, failureClass: 'parse_error', message: 'x' };
      await stores.slices.putMany([failed]);
      expect(await redis.hexists(`${prefix}:slices`, failed.id)).toBe(1);
      await stores.close();
      await expect(stores.records.count()).rejects.toThrow();
    } finally {
      await stores.close();
      redis.disconnect();
      await deletePrefix(prefix);
    }
  });
});

describe('RedisBuildStaging', () => {
  it('answers one cluster by key (undefined when not staged) and counts them, as the index stage reads them', async () => {
    const prefix = uniquePrefix('staging');
    const redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: 1 });
    const staging = new RedisBuildStaging(redis, prefix);
    const cluster = (id: string) => ({
      node: {
        id,
        cwe: 'CWE-89' as const,
        language: 'python' as const,
        parents: [],
        guidelines: ['Use parameters.'],
        cause: 'string-built SQL',
        apiNames: [],
        exampleIds: [],
        provenance: { mode: 'catalog-only' as const },
      },
      examples: [],
    });
    try {
      expect(await staging.count('b1')).toBe(0);
      await staging.put('b1', cluster('python:CWE-89'));
      await staging.put('b1', cluster('c:CWE-787'));
      expect(await staging.count('b1')).toBe(2);
      expect(await staging.get('b1', 'c:CWE-787')).toEqual(cluster('c:CWE-787'));
      expect(await staging.get('b1', 'go:CWE-22')).toBeUndefined();
      expect(staging.outOfMemory()).toBe(true);
    } finally {
      redis.disconnect();
      await deletePrefix(prefix);
    }
  });
});
