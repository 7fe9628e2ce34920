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
    const dir = dirs.make('store-corrupt');
    mkdirSync(join(dir, ID.slice(0, 2)));
    const path = join(dir, ID.slice(0, 2), `${ID}.json`);
    writeFileSync(path, '{"id": "0123');
    const store = new FsRecordStore(dir);
    const err = await store.get(ID).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RecordStoreError);
    expect(err).toMatchObject({ kind: 'invalid-input', message: expect.stringContaining(`stored document ${ID} in ${path} is not valid JSON`) });
  });

  it('answers "not there" only for a missing file; a shard it cannot read is an error', async () => {
    const dir = dirs.make('store-unreadable');
    const store = new FsRecordStore(dir);
    expect(await store.has(ID)).toBe(false);
    // A file where the shard folder should be.
    writeFileSync(join(dir, ID.slice(0, 2)), 'not a folder');
    await expect(store.has(ID)).rejects.toMatchObject({ code: 'ENOTDIR' });
  });
});
