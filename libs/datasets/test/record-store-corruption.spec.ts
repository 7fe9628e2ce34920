import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FsRecordStore, RecordStoreError, runIngest } from '@rescue/datasets';
import type { FixRecord } from '@rescue/domain';
import { TempDirs } from './helpers';

const dirs = new TempDirs();
afterEach(() => dirs.cleanup());

const fixPairs = resolve(__dirname, '../../../examples/fix-pairs');

async function ids(store: FsRecordStore): Promise<string[]> {
  const out: string[] = [];
  for await (const id of store.ids()) out.push(id);
  return out.sort();
}

/**
 * Issue 11 (corruption): a truncated record failed the build five retries later with a bare
 * "Unterminated string in JSON" and re-ingesting never repaired it (putMany skipped any file that
 * existed). Now each way a stored file goes bad is named with its path, and the next ingest of the
 * same source rewrites it.
 */
describe('FsRecordStore: corrupt entries are named and re-ingest repairs them', () => {
  it('names a truncated file, a file holding another id and altered code, then repairs all three', async () => {
    const root = dirs.make('store-repair');
    const store = new FsRecordStore(join(root, 'records'));
    const ingest = () => runIngest({ sources: [fixPairs], format: 'auto', maxLineBytes: 1 << 20, store, rejectsPath: join(root, 'rejects.jsonl') });
    const first = await ingest();
    const all = await ids(store);
    expect(all.length).toBeGreaterThanOrEqual(4);
    expect(first.report.newInStore).toBe(all.length);
    const [truncated, renamed, altered] = all;
    const pathOf = (id: string) => join(root, 'records', id.slice(0, 2), `${id}.json`);
    const originals = new Map(all.map((id) => [id, readFileSync(pathOf(id), 'utf8')]));

    writeFileSync(pathOf(truncated), originals.get(truncated)!.slice(0, 20));
    writeFileSync(pathOf(renamed), JSON.stringify({ ...(JSON.parse(originals.get(renamed)!) as FixRecord), id: altered }));
    const record = JSON.parse(originals.get(altered)!) as FixRecord;
    writeFileSync(pathOf(altered), JSON.stringify({ ...record, before: record.before.replace(/\w+/, 'tampered') }));

    const found = await store.check();
    expect(found.checked).toBe(all.length);
    expect(found.corrupt.map((c) => c.id).sort()).toEqual([truncated, renamed, altered].sort());
    const problem = (id: string) => found.corrupt.find((c) => c.id === id);
    expect(problem(truncated)).toEqual({ id: truncated, where: pathOf(truncated), problem: expect.stringMatching(/not valid JSON, truncated or damaged/) });
    expect(problem(renamed)?.problem).toBe(`holds id "${altered}", not the id ${renamed} it is stored under`);
    expect(problem(altered)?.problem).toMatch(/content does not hash to its id/);

    // A reader is told which file and what is wrong, not a raw JSON error, and is not retried.
    const err = await store.get(truncated).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RecordStoreError);
    expect(err).toMatchObject({ kind: 'invalid-input', message: expect.stringContaining(`stored document ${truncated} in ${pathOf(truncated)} is not valid JSON`) });
    await expect(store.get(altered)).rejects.toThrow(/content does not hash to its id.*re-ingest its source/);
    // A stage that skips stored work must redo a corrupt one.
    expect(await store.has(truncated)).toBe(false);
    expect(await store.has(all[3])).toBe(true);

    const again = await ingest();
    expect(again.report.newInStore).toBe(3);
    expect((await store.check()).corrupt).toEqual([]);
    for (const id of all) expect(readFileSync(pathOf(id), 'utf8')).toBe(originals.get(id));
  });

  it('reports what putMany repaired, and counts a sound file as existing', async () => {
    const root = dirs.make('store-putmany');
    const store = new FsRecordStore<{ id: string; v: number }>(root);
    const id = 'aa'.repeat(16);
    const other = 'ab'.repeat(16);
    expect(
      await store.putMany([
        { id, v: 1 },
        { id: other, v: 1 },
      ]),
    ).toEqual({ added: 2, existing: 0 });
    writeFileSync(join(root, 'aa', `${id}.json`), '{"id":"aa');
    const put = await store.putMany([
      { id, v: 2 },
      { id: other, v: 2 },
    ]);
    expect(put).toMatchObject({ added: 1, existing: 1, repaired: [{ id, where: join(root, 'aa', `${id}.json`), problem: expect.stringMatching(/not valid JSON/) }] });
    expect(await store.get(id)).toEqual({ id, v: 2 });
    // A sound copy is not "repaired" (nor counted as added); its latest reading replaces it.
    expect(await store.get(other)).toEqual({ id: other, v: 2 });
  });
});
