import { appendFileSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FsRecordStore, RecordStoreError, encodeEntry, encodeStoredPayload, normalizeGenericRecord, runIngest, scanSegment } from '@rescue/datasets';
import type { FixRecord } from '@rescue/domain';
import { TempDirs, overwrite, segmentEntries } from './helpers';

const dirs = new TempDirs();
afterEach(() => dirs.cleanup());

const fixPairs = resolve(__dirname, '../../../examples/fix-pairs');

async function ids(store: FsRecordStore<{ id: string }>): Promise<string[]> {
  const out: string[] = [];
  for await (const id of store.ids()) out.push(id);
  return out.sort();
}

function record(i: number): FixRecord {
  const r = normalizeGenericRecord({ language: 'python', cwe: 'CWE-78', before: `os.system(x${i})\n`, after: `subprocess.run([x${i}])\n` }, { file: 'm.jsonl', line: i, format: 'generic' });
  if (!r.ok) throw new Error(r.problem.message);
  return r.record;
}

const segmentsOf = (dir: string): string[] => readdirSync(dir).filter((n) => n.startsWith('segment-'));

/**
 * Issue 11 (corruption): a truncated record failed the build five retries later with a bare
 * "Unterminated string in JSON" and re-ingesting never repaired it. Each way a stored entry goes
 * bad is named with its segment and offset, and the next ingest of the same source supersedes it.
 */
describe('FsRecordStore: corrupt entries are named and re-ingest repairs them', () => {
  it('names a damaged entry, an entry holding another id and altered code, then repairs all three', async () => {
    const root = dirs.make('store-repair');
    const dir = join(root, 'records');
    const store = new FsRecordStore(dir);
    const ingest = () => runIngest({ sources: [fixPairs], format: 'auto', maxLineBytes: 1 << 20, store, rejectsPath: join(root, 'rejects.jsonl') });
    const first = await ingest();
    const all = await ids(store);
    expect(all.length).toBeGreaterThanOrEqual(4);
    expect(first.report.newInStore).toBe(all.length);
    const originals = new Map(await Promise.all(all.map(async (id) => [id, await store.get(id)] as const)));
    // Hand edits below bypass the folder's lock, so the handle must not be holding it.
    await store.close();
    const entries = segmentEntries(dir);
    expect(entries.map((e) => e.id).sort()).toEqual(all);
    const [damaged, renamed, altered] = entries;
    const segment = damaged.path;

    // A damaged block inside the first entry's payload; then two entries appended by hand, sound as
    // entries (their checksums agree) but not as documents.
    overwrite(segment, damaged.payloadOffset + 5, 'XXXX');
    const renamedAt = statSync(segment).size;
    appendFileSync(segment, encodeEntry(renamed.id, Buffer.from(JSON.stringify({ ...originals.get(renamed.id), id: altered.id }))));
    const alteredAt = statSync(segment).size;
    const rec = originals.get(altered.id) as FixRecord;
    appendFileSync(segment, encodeEntry(altered.id, Buffer.from(JSON.stringify({ ...rec, before: rec.before.replace(/\w+/, 'tampered') }))));

    const found = await store.check();
    expect(found.checked).toBe(all.length);
    expect(found.corrupt.map((c) => c.id).sort()).toEqual([damaged.id, renamed.id, altered.id].sort());
    const problem = (id: string) => found.corrupt.find((c) => c.id === id);
    expect(problem(damaged.id)).toEqual({ id: damaged.id, where: `${segment} at byte ${damaged.start}`, problem: expect.stringMatching(/fails its checksum/) });
    expect(problem(renamed.id)).toEqual({ id: renamed.id, where: `${segment} at byte ${renamedAt}`, problem: `holds id "${altered.id}", not the id ${renamed.id} it is stored under` });
    expect(problem(altered.id)).toEqual({ id: altered.id, where: `${segment} at byte ${alteredAt}`, problem: expect.stringMatching(/content does not hash to its id/) });

    // A reader is told which entry and what is wrong, not a raw JSON error, and is not retried.
    const err = await store.get(damaged.id).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RecordStoreError);
    expect(err).toMatchObject({ kind: 'invalid-input', message: expect.stringContaining(`stored document ${damaged.id} in ${segment} at byte ${damaged.start} fails its checksum`) });
    await expect(store.get(altered.id)).rejects.toThrow(/content does not hash to its id.*re-ingest its source/);
    // A stage that skips stored work must redo a corrupt one.
    expect(await store.has(damaged.id)).toBe(false);
    expect(await store.has(renamed.id)).toBe(false);
    expect(await store.has(entries[3].id)).toBe(true);
    // Read together, the same verdicts: the damaged entry read in one run with its sound neighbour.
    expect(await store.hasMany([damaged.id, entries[3].id, renamed.id, altered.id])).toEqual([false, true, false, false]);
    await expect(store.getMany([entries[3].id, damaged.id])).rejects.toMatchObject({
      kind: 'invalid-input',
      message: expect.stringContaining(`stored document ${damaged.id} in ${segment} at byte ${damaged.start} fails its checksum`),
    });
    expect(await store.getMany([entries[3].id])).toEqual([originals.get(entries[3].id)]);
    // Read as stored bytes (what the summarize stage keys its cache by): a damaged entry throws at
    // once, a corrupt one when its document is asked for; a sound one gives the bytes its entry
    // holds, and decodes (once) to what get() reads.
    await expect(store.entriesMany([entries[3].id, damaged.id])).rejects.toThrow(/fails its checksum/);
    const [sound, tampered, absent] = await store.entriesMany([entries[3].id, altered.id, '0'.repeat(32)]);
    const soundEntry = entries[3];
    expect(sound?.bytes.equals(readFileSync(soundEntry.path).subarray(soundEntry.payloadOffset, soundEntry.payloadOffset + soundEntry.length))).toBe(true);
    expect(sound?.document()).toEqual(originals.get(soundEntry.id));
    expect(sound?.document()).toBe(sound?.document());
    expect(() => tampered?.document()).toThrow(/content does not hash to its id/);
    // Its head (small fields only) is read without the content check, which covers the code.
    expect(sound?.head()).toMatchObject({ id: soundEntry.id, cwe: originals.get(soundEntry.id)?.cwe, origin: originals.get(soundEntry.id)?.origin });
    expect(tampered?.head().id).toBe(altered.id);
    expect(absent).toBeUndefined();

    const again = await ingest();
    expect(again.report.newInStore).toBe(3);
    expect((await store.check()).corrupt).toEqual([]);
    const reopened = new FsRecordStore(dir);
    for (const id of all) expect(await reopened.get(id)).toEqual(originals.get(id));
    expect(await reopened.count()).toBe(all.length);
  });

  it('judges an entry whose code is stored raw (the split form) as a whole read does: altered code or a cut string is corrupt', async () => {
    const dir = dirs.make('store-split-verdicts');
    const long = (tag: string): string => Array.from({ length: 30 }, (_, i) => `    call_${tag}(${i});`).join('\n');
    const made = normalizeGenericRecord({ language: 'c', cwe: 'CWE-787', before: long('a'), after: long('b') }, { file: 'long.jsonl', line: 1, format: 'generic' });
    if (!made.ok) throw new Error(made.problem.message);
    const rec = made.record;
    const slice = { id: 'cd'.repeat(16), status: 'sliced', slicedVulnerable: long('s'), slicedSecure: long('t') };
    const records = new FsRecordStore(join(dir, 'records'));
    const slices = new FsRecordStore<typeof slice>(join(dir, 'slices'));
    await records.putMany([rec]);
    await slices.putMany([slice]);
    await records.close();
    await slices.close();
    const segment = (sub: string): string => join(dir, sub, segmentsOf(join(dir, sub))[0]);
    expect(readFileSync(segment('records'), 'utf8')).toContain('#split before:');
    expect(readFileSync(segment('slices'), 'utf8')).toContain('#split slicedVulnerable:');
    // Sound, read fresh: both are there.
    expect(await new FsRecordStore(join(dir, 'records')).has(rec.id)).toBe(true);
    expect(await new FsRecordStore(join(dir, 'slices')).has(slice.id)).toBe(true);

    // Entries appended by hand, sound as entries (their checksums agree): the record's raw code
    // altered (its JSON line untouched), the slice's last string cut short by a byte.
    appendFileSync(segment('records'), encodeEntry(rec.id, encodeStoredPayload({ ...rec, before: rec.before.replace('call_a(3)', 'call_a(4)') })));
    const slicePayload = encodeStoredPayload(slice);
    appendFileSync(segment('slices'), encodeEntry(slice.id, Buffer.concat([slicePayload.subarray(0, slicePayload.length - 2), Buffer.from('\n')])));
    const recordsAgain = new FsRecordStore(join(dir, 'records'));
    const slicesAgain = new FsRecordStore<typeof slice>(join(dir, 'slices'));
    expect(await recordsAgain.hasMany([rec.id])).toEqual([false]);
    expect(await slicesAgain.hasMany([slice.id])).toEqual([false]);
    expect((await recordsAgain.check()).corrupt).toEqual([expect.objectContaining({ id: rec.id, problem: expect.stringMatching(/content does not hash to its id/) })]);
    expect((await slicesAgain.check()).corrupt).toEqual([expect.objectContaining({ id: slice.id, problem: expect.stringMatching(/does not end where its header says/) })]);
    await Promise.all([recordsAgain.close(), slicesAgain.close()]);
  });

  it('reports what putMany repaired, and counts a sound entry as existing', async () => {
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
    await store.close();
    const [entry] = segmentEntries(root);
    expect(entry.id).toBe(id);
    overwrite(entry.path, entry.payloadOffset, '!');
    const put = await new FsRecordStore<{ id: string; v: number }>(root).putMany([
      { id, v: 2 },
      { id: other, v: 2 },
    ]);
    expect(put).toMatchObject({ added: 1, existing: 1, repaired: [{ id, where: `${entry.path} at byte ${entry.start}`, problem: expect.stringMatching(/fails its checksum/) }] });
    expect(await store.get(id)).toEqual({ id, v: 2 });
    // A sound entry is not "repaired" (nor counted as added); its latest reading replaces it.
    expect(await store.get(other)).toEqual({ id: other, v: 2 });
  });

  it('ignores an append cut short at the tail, and the next writer truncates it rather than trust it', async () => {
    const dir = dirs.make('store-torn');
    const [a, b, c] = [record(1), record(2), record(3)];
    const store = new FsRecordStore(dir);
    await store.putMany([a, b]);
    await store.close();
    const [segment] = segmentsOf(dir);
    const path = join(dir, segment);
    const sound = statSync(path).size;
    const whole = encodeEntry(c.id, Buffer.from(JSON.stringify(c)));
    appendFileSync(path, whole.subarray(0, Math.floor(whole.length / 2)));

    // Readers (which cannot tell a crash from another process mid-append) neither see it nor cut it.
    const reader = new FsRecordStore(dir);
    expect(await reader.count()).toBe(2);
    expect(await reader.has(c.id)).toBe(false);
    expect(await reader.get(c.id)).toBeUndefined();
    expect((await reader.check()).corrupt).toEqual([]);
    expect(statSync(path).size).toBeGreaterThan(sound);

    const writer = new FsRecordStore(dir);
    const put = await writer.putMany([c]);
    expect(put).toEqual({ added: 1, existing: 0, repaired: [{ id: c.id, where: `${path} at byte ${sound}`, problem: expect.stringMatching(/append cut short .*truncated/) }] });
    await writer.close();
    expect(statSync(path).size).toBe(sound + whole.length);
    const scan = scanSegment(readFileSync(path), 0);
    expect(scan.damaged).toEqual([]);
    expect(scan.entries.map((e) => e.id)).toEqual([a.id, b.id, c.id]);
    // The other handle catches up with what was appended since it last looked.
    expect(await reader.get(c.id)).toEqual(c);
    expect(await reader.count()).toBe(3);
  });

  it('skips a damaged header to the next sound entry and names the bytes it skipped', async () => {
    const dir = dirs.make('store-block');
    const recs = [record(4), record(5), record(6)];
    const store = new FsRecordStore(dir);
    await store.putMany(recs);
    const [, middle] = segmentEntries(dir);
    overwrite(middle.path, middle.start, 'zz');
    const reader = new FsRecordStore(dir);
    expect(await reader.get(recs[2].id)).toEqual(recs[2]);
    expect(await reader.has(recs[1].id)).toBe(false);
    expect(await reader.count()).toBe(2);
    const { corrupt } = await reader.check();
    expect(corrupt).toEqual([{ id: '(unknown)', where: `${middle.path} at byte ${middle.start}`, problem: `is no entry header: ${middle.end - middle.start} bytes that are no entry were skipped` }]);
    expect(await reader.putMany([recs[1]])).toEqual({ added: 1, existing: 0 });
    expect(await new FsRecordStore(dir).get(recs[1].id)).toEqual(recs[1]);
  });
});

describe('FsRecordStore: a folder in the old one-file-per-record layout', () => {
  it('is migrated on first open, each file’s bytes kept as they were (a corrupt one still named, then repaired)', async () => {
    const dir = dirs.make('store-legacy');
    const recs = [record(7), record(8), record(9)];
    const legacyPath = (id: string) => join(dir, id.slice(0, 2), `${id}.json`);
    const texts = new Map(recs.map((r) => [r.id, JSON.stringify(r)]));
    for (const r of recs) {
      mkdirSync(join(dir, r.id.slice(0, 2)), { recursive: true });
      writeFileSync(legacyPath(r.id), texts.get(r.id) as string);
    }
    const broken = '0123456789abcdef0123456789abcdef';
    mkdirSync(join(dir, '01'), { recursive: true });
    writeFileSync(legacyPath(broken), '{"id": "0123');

    const store = new FsRecordStore(dir);
    expect(await ids(store)).toEqual([...recs.map((r) => r.id), broken].sort());
    for (const r of recs) expect(await store.get(r.id)).toEqual(r);
    // The old files are gone; their bytes are the entries' payloads, unchanged.
    for (const id of [...texts.keys(), broken]) expect(existsSync(legacyPath(id))).toBe(false);
    expect(readdirSync(dir).filter((n) => /^[0-9a-f]{2}$/.test(n))).toEqual([]);
    const entries = segmentEntries(dir);
    for (const e of entries) {
      const bytes = readFileSync(e.path)
        .subarray(e.payloadOffset, e.payloadOffset + e.length)
        .toString();
      expect(bytes).toBe(e.id === broken ? '{"id": "0123' : texts.get(e.id));
    }
    const { corrupt } = await store.check();
    expect(corrupt).toEqual([{ id: broken, where: expect.stringContaining(entries[0].path), problem: expect.stringMatching(/not valid JSON/) }]);
    expect(await store.has(broken)).toBe(false);
    const fixed = { ...recs[0], id: broken };
    expect(await store.putMany([fixed as FixRecord])).toMatchObject({ added: 1, existing: 0, repaired: [{ id: broken }] });
    // A second handle (another process, later) finds nothing left to migrate.
    expect(await new FsRecordStore(dir).count()).toBe(4);
  });
});
