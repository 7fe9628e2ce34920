import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { classify } from '@rescue/domain';
import { FsRecordStore, RecordStoreError } from '@rescue/datasets';
import { TempDirs } from './helpers';

const dirs = new TempDirs();
afterEach(() => dirs.cleanup());

const ID = '0123456789abcdef0123456789abcdef';

describe('RecordStoreError kinds (no Redis)', () => {
  it('is transient by default: the store failed, a retry may pass', () => {
    const err = new RecordStoreError('writing 3 records failed: ENOSPC');
    expect(err.name).toBe('RecordStoreError');
    expect(classify(err)).toMatchObject({ kind: 'transient', retryable: true });
  });

  it('calls a bad id invalid input', async () => {
    const store = new FsRecordStore(dirs.make('store-id'));
    await expect(store.get('../../etc/passwd')).rejects.toMatchObject({ name: 'RecordStoreError', kind: 'invalid-input' });
  });

  it('names a corrupt stored record, as invalid input', async () => {
    // Written in the old one-file layout: opening the store migrates the bytes as they are.
    const dir = dirs.make('store-corrupt');
    mkdirSync(join(dir, ID.slice(0, 2)));
    writeFileSync(join(dir, ID.slice(0, 2), `${ID}.json`), '{"id": "0123');
    const store = new FsRecordStore(dir);
    const err = await store.get(ID).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RecordStoreError);
    expect(err).toMatchObject({ kind: 'invalid-input', message: expect.stringContaining(`stored document ${ID} in ${join(dir, 'segment-000001.log')} at byte 0 is not valid JSON`) });
  });

  it('answers "not there" only for a missing folder; a folder it cannot read is an error', async () => {
    const dir = dirs.make('store-unreadable');
    expect(await new FsRecordStore(join(dir, 'absent')).has(ID)).toBe(false);
    // A file where the store's folder should be.
    writeFileSync(join(dir, 'records'), 'not a folder');
    await expect(new FsRecordStore(join(dir, 'records')).has(ID)).rejects.toMatchObject({ code: 'ENOTDIR' });
    // …and where an old-layout shard folder should be.
    const store = new FsRecordStore(dir);
    writeFileSync(join(dir, ID.slice(0, 2)), 'not a folder');
    await expect(store.has(ID)).rejects.toMatchObject({ code: 'ENOTDIR' });
  });
});
