import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { FixPairIngestor, FsRecordStore, type RecordStore, RecordStoreError, RedisRecordStore, normalizeGenericRecord } from '@rescue/datasets';
import type { FixRecord } from '@rescue/domain';
import { deletePrefix, testRedisUrl, uniquePrefix } from '@rescue/testing';
import { TempDirs } from './helpers';

function record(i: number, cwe = 'CWE-79'): FixRecord {
  const r = normalizeGenericRecord(
    { language: i % 2 ? 'python' : 'c', cwe, before: `v${i} = input()\nuse(v${i})\n`, after: `v${i} = clean(input())\nuse(v${i})\n`, function_name: `f${i}` },
    { file: 'mem.jsonl', line: i + 1, format: 'generic' },
  );
  if (!r.ok) throw new Error(r.problem.message);
  return r.record;
}

async function all(ids: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const id of ids) out.push(id);
  return out;
}

/** A backend under test: a fresh, empty store; `reopen` gives a second handle on the same data. */
interface Backend {
  store: RecordStore;
  reopen(): RecordStore;
  /** A store of the same kind that must not see this one's records. */
  other(): RecordStore;
  cleanup(): Promise<void>;
}

type Factory = () => Backend;

const fsBackend: Factory = () => {
  const dirs = new TempDirs();
  const dir = dirs.make('fs-store');
  return {
    store: new FsRecordStore(join(dir, 'records')),
    reopen: () => new FsRecordStore(join(dir, 'records')),
    other: () => new FsRecordStore(join(dir, 'other')),
    cleanup: async () => dirs.cleanup(),
  };
};

const redisBackend: Factory = () => {
  const redis: Redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: 1 });
  const prefix = uniquePrefix('store');
  const otherPrefix = uniquePrefix('store');
  return {
    store: new RedisRecordStore(redis, prefix),
    reopen: () => new RedisRecordStore(redis, prefix),
    other: () => new RedisRecordStore(redis, otherPrefix),
    cleanup: async () => {
      await deletePrefix(prefix);
      await deletePrefix(otherPrefix);
      expect(await redis.exists(`${prefix}:records`)).toBe(0);
      redis.disconnect();
    },
  };
};

describe.each<[string, Factory]>([
  ['FsRecordStore', fsBackend],
  ['RedisRecordStore', redisBackend],
])('RecordStore contract: %s', (_name, factory) => {
  let backend: Backend;
  let store: RecordStore;

  beforeEach(() => {
    backend = factory();
    store = backend.store;
  });

  afterEach(async () => {
    await store.close();
    await backend.cleanup();
  });

  it('starts empty', async () => {
    expect(await store.count()).toBe(0);
    expect(await all(store.ids())).toEqual([]);
  });

  it('putMany returns how many were added and how many already existed', async () => {
    const recs = [record(1), record(2), record(3)];
    expect(await store.putMany(recs)).toEqual({ added: 3, existing: 0 });
    expect(await store.putMany([record(2), record(4), record(3)])).toEqual({ added: 1, existing: 2 });
    expect(await store.putMany([])).toEqual({ added: 0, existing: 0 });
    expect(await store.count()).toBe(4);
  });

  it('a second put of the same id counts as existing, and its latest reading replaces the first', async () => {
    const first = record(5);
    expect(await store.putMany([first])).toEqual({ added: 1, existing: 0 });
    expect(await store.putMany([first])).toEqual({ added: 0, existing: 1 });
    // The same fix read from another source with other free text: a build reading it now must get
    // its own words back, not an earlier build's (the distributed build reads records from here).
    const sameIdOtherText: FixRecord = { ...first, description: 'another source says it otherwise', origin: { file: 'elsewhere.jsonl', line: 99, format: 'sven' } };
    expect(await store.putMany([sameIdOtherText])).toEqual({ added: 0, existing: 1 });
    expect(await store.count()).toBe(1);
    expect(await store.get(first.id)).toEqual(sameIdOtherText);
  });

  it('counts a record repeated inside one batch once', async () => {
    const r = record(6);
    expect(await store.putMany([r, r])).toEqual({ added: 1, existing: 1 });
    expect(await store.count()).toBe(1);
  });

  it('get returns the stored record; has tells whether it is stored', async () => {
    const a = record(7);
    const b = record(7, 'CWE-89'); // same code, other CWE: another id
    expect(a.id).not.toBe(b.id);
    await store.putMany([a]);
    expect(await store.get(a.id)).toEqual(a);
    expect(await store.has(a.id)).toBe(true);
    expect(await store.has(b.id)).toBe(false);
  });

  it('getMany and hasMany answer as get and has do, in the order asked, repeats and unknown ids included', async () => {
    const stored = [record(20), record(21), record(22), record(23)];
    await store.putMany(stored);
    const unknown = '0123456789abcdef0123456789abcdef';
    const asked = [stored[2].id, unknown, stored[0].id, stored[2].id, stored[3].id];
    expect(await store.getMany(asked)).toEqual([stored[2], undefined, stored[0], stored[2], stored[3]]);
    expect(await store.hasMany(asked)).toEqual([true, false, true, true, true]);
    expect(await store.getMany([])).toEqual([]);
    expect(await store.hasMany([])).toEqual([]);
    // Through another handle, which has not read the folder yet.
    const again = backend.reopen();
    expect(await again.getMany(asked)).toEqual(await Promise.all(asked.map((id) => store.get(id))));
    await again.close();
    await expect(store.getMany([stored[0].id, '../etc/passwd'])).rejects.toThrow(/not a record id/);
    await expect(store.hasMany(['constructor'])).rejects.toThrow(/not a record id/);
  });

  it('entriesMany gives each stored document as its bytes, in the order asked, decoded when asked', async () => {
    const stored = [record(30), record(31)];
    await store.putMany(stored);
    const unknown = '0123456789abcdef0123456789abcdef';
    const entries = await (store.entriesMany as NonNullable<RecordStore['entriesMany']>)([stored[1].id, unknown, stored[0].id]);
    expect(entries[1]).toBeUndefined();
    expect(entries[0]?.document()).toEqual(stored[1]);
    expect(entries[2]?.document()).toEqual(stored[0]);
    expect(entries[2]?.head()).toMatchObject({ id: stored[0].id, cwe: stored[0].cwe, origin: stored[0].origin });
    // The same document stores as the same bytes, through another handle too; another document's differ.
    const again = backend.reopen();
    const reread = await (again.entriesMany as NonNullable<RecordStore['entriesMany']>)([stored[0].id]);
    expect(reread[0]?.bytes.equals(entries[2]?.bytes as Buffer)).toBe(true);
    expect(entries[0]?.bytes.equals(entries[2]?.bytes as Buffer)).toBe(false);
    await again.close();
    await expect(store.entriesMany?.(['../etc/passwd'])).rejects.toThrow(/not a record id/);
  });

  it('get of an unknown (well-formed) id is undefined', async () => {
    await store.putMany([record(8)]);
    expect(await store.get('0123456789abcdef0123456789abcdef')).toBeUndefined();
    expect(await store.has('0123456789abcdef0123456789abcdef')).toBe(false);
  });

  it('ids() lists every stored id once and count() agrees, beyond one HSCAN page', async () => {
    const recs = Array.from({ length: 620 }, (_, i) => record(100 + i));
    expect(await store.putMany(recs.slice(0, 300))).toEqual({ added: 300, existing: 0 });
    expect(await store.putMany(recs)).toEqual({ added: 320, existing: 300 });
    const ids = await all(store.ids());
    expect(ids).toHaveLength(620);
    expect(new Set(ids)).toEqual(new Set(recs.map((r) => r.id)));
    expect(await store.count()).toBe(620);
  });

  it('another handle on the same place sees the records; another place does not', async () => {
    const recs = [record(9), record(10)];
    await store.putMany(recs);
    const again = backend.reopen();
    expect(await again.count()).toBe(2);
    expect(await again.get(recs[1].id)).toEqual(recs[1]);
    expect(await again.putMany(recs)).toEqual({ added: 0, existing: 2 });
    // A newer reading written through the other handle is what this one reads next (the stages
    // of a distributed build read what another worker wrote).
    const newer: FixRecord = { ...recs[0], description: 'read again from another source' };
    expect(await again.putMany([newer, record(12)])).toEqual({ added: 1, existing: 1 });
    expect(await store.get(recs[0].id)).toEqual(newer);
    expect(await store.count()).toBe(3);
    await again.close();
    const other = backend.other();
    expect(await other.count()).toBe(0);
    expect(await other.has(recs[0].id)).toBe(false);
  });

  it.each(['', 'abc', '../../etc/passwd', '0123456789ABCDEF0123456789ABCDEF', '0123456789abcdef0123456789abcdef0'])('rejects the invalid id %p in get and putMany', async (bad) => {
    await expect(store.get(bad)).rejects.toBeInstanceOf(RecordStoreError);
    await expect(store.putMany([{ ...record(11), id: bad }])).rejects.toBeInstanceOf(RecordStoreError);
    expect(await store.count()).toBe(0);
  });

  it('rejects an invalid id in has() too', async () => {
    await expect(store.has('../../etc/passwd')).rejects.toBeInstanceOf(RecordStoreError);
  });

  it('an ingest run writes through the store; a re-run adds nothing new', async () => {
    const dirs = new TempDirs();
    try {
      const file = join(dirs.make('store-ingest'), 'in.jsonl');
      const recs = [record(20), record(21), record(22)];
      writeFileSync(file, `${recs.map((r) => JSON.stringify({ language: r.language, cwe: r.cwe, before: r.before, after: r.after })).join('\n')}\n{"bad":1}\n`);
      const ingestor = new FixPairIngestor(store);
      const first = await ingestor.ingest([file], { format: 'auto', maxLineBytes: 4096, batchSize: 2 });
      expect(first).toMatchObject({ kept: 3, rejected: 1, newInStore: 3 });
      expect(new Set(await all(store.ids()))).toEqual(new Set(recs.map((r) => r.id)));
      const second = await ingestor.ingest([file], { format: 'auto', maxLineBytes: 4096 });
      expect(second).toMatchObject({ kept: 3, rejected: 1, newInStore: 0 });
      expect(await store.count()).toBe(3);
    } finally {
      dirs.cleanup();
    }
  });
});
