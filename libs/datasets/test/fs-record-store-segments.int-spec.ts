import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FsRecordStore, encodeEntry, scanSegment } from '@rescue/datasets';
import { TempDirs, overwrite } from './helpers';

const dirs = new TempDirs();
afterEach(() => dirs.cleanup());

interface Doc {
  id: string;
  n: number;
  text: string;
}

const idOf = (i: number): string => i.toString(16).padStart(32, '0');
const doc = (i: number, text = `document ${i}`): Doc => ({ id: idOf(i), n: i, text });
const segmentsOf = (dir: string): string[] =>
  readdirSync(dir)
    .filter((n) => n.startsWith('segment-'))
    .sort();

const segmentEntriesOf = (dir: string) => segmentsOf(dir).flatMap((name) => scanSegment(readFileSync(join(dir, name)), 0).entries.map((e) => ({ ...e, path: join(dir, name) })));

async function all<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/**
 * Runs a script in another Node process (cwd: the repository, so it finds our node_modules):
 * `started` once it prints its first line, `done` when it exits.
 */
function inAnotherProcess(script: string): { started: Promise<void>; done: Promise<void> } {
  const child = spawn(process.execPath, ['-e', script], { cwd: join(__dirname, '../../..'), stdio: ['ignore', 'pipe', 'inherit'] });
  const done = new Promise<void>((resolve, reject) => child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`child exited with ${code}`)))));
  const started = new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => resolve());
    done.catch(reject);
  });
  return { started, done };
}

describe('FsRecordStore segments: rolling, compaction and several writers', () => {
  it('rolls to a new segment once one is full; another handle reads across all of them', async () => {
    const dir = dirs.make('seg-roll');
    const store = new FsRecordStore<Doc>(dir, { segmentBytes: 2000 });
    const docs = Array.from({ length: 120 }, (_, i) => doc(i));
    for (let i = 0; i < docs.length; i += 10) expect(await store.putMany(docs.slice(i, i + 10))).toEqual({ added: 10, existing: 0 });
    const segments = segmentsOf(dir);
    expect(segments.length).toBeGreaterThan(3);
    // Only a full segment is left behind: every one but the last holds at least segmentBytes.
    for (const name of segments.slice(0, -1)) expect(readFileSync(join(dir, name)).length).toBeGreaterThanOrEqual(2000);
    const reader = new FsRecordStore<Doc>(dir, { segmentBytes: 2000 });
    expect(await reader.count()).toBe(120);
    for (const d of docs) expect(await reader.get(d.id)).toEqual(d);
    // Written after the reader looked, into a new segment: the reader sees it on its next call.
    await store.putMany([doc(500)]);
    expect(await reader.get(idOf(500))).toEqual(doc(500));
    await store.close();
  });

  it('keeps a segment open while reads follow one another, one descriptor per segment, and lets it go when idle or closed', async () => {
    if (!existsSync('/proc/self/fd')) return void process.stdout.write('skipped: no /proc/self/fd to count open files on this system\n');
    const dir = dirs.make('seg-readers');
    const store = new FsRecordStore<Doc>(dir, { segmentBytes: 2000 });
    const docs = Array.from({ length: 60 }, (_, i) => doc(i));
    for (let i = 0; i < docs.length; i += 10) await store.putMany(docs.slice(i, i + 10));
    await store.close();
    const openSegments = (): string[] =>
      readdirSync('/proc/self/fd')
        .map((fd) => {
          try {
            return readlinkSync(join('/proc/self/fd', fd));
          } catch {
            return '';
          }
        })
        .filter((target) => target.startsWith(dir));
    const reader = new FsRecordStore<Doc>(dir, { segmentBytes: 2000 });
    await Promise.all(docs.map(async (d) => expect(await reader.get(d.id)).toEqual(d)));
    for (const d of docs) expect(await reader.get(d.id)).toEqual(d);
    const held = openSegments();
    expect(held.length).toBeGreaterThan(1);
    expect(new Set(held).size).toBe(held.length);
    await new Promise((r) => setTimeout(r, 300));
    expect(openSegments()).toEqual([]);
    expect(await reader.get(docs[0].id)).toEqual(docs[0]);
    expect(openSegments().length).toBe(1);
    await reader.close();
    // Closing is asynchronous: the descriptor goes once the close the store started has run.
    await new Promise((r) => setTimeout(r, 50));
    expect(openSegments()).toEqual([]);
  });

  it('compacts once superseded entries dominate, keeping the latest reading of each id; a reader opened before follows', async () => {
    const dir = dirs.make('seg-compact');
    const options = { segmentBytes: 4000, compactMinBytes: 8000 };
    const store = new FsRecordStore<Doc>(dir, options);
    const ids = Array.from({ length: 20 }, (_, i) => i);
    await store.putMany(ids.map((i) => doc(i, 'first')));
    const reader = new FsRecordStore<Doc>(dir, options);
    expect(await reader.get(idOf(3))).toEqual(doc(3, 'first'));
    const before = segmentsOf(dir);
    for (let round = 0; round < 30; round += 1) expect(await store.putMany(ids.map((i) => doc(i, `round ${round}`)))).toEqual({ added: 0, existing: 20 });
    await store.close();
    const after = segmentsOf(dir);
    // The first segment went away with a compaction, and what is left is about one round's worth.
    expect(after).not.toContain(before[0]);
    const bytes = after.reduce((sum, name) => sum + readFileSync(join(dir, name)).length, 0);
    const oneRound = scanSegment(readFileSync(join(dir, after[0])), 0)
      .entries.slice(0, 20)
      .reduce((sum, e) => sum + e.end - e.start, 0);
    expect(bytes).toBeLessThan(oneRound * 4);
    for (const i of ids) expect(await reader.get(idOf(i))).toEqual(doc(i, 'round 29'));
    // Another writer compacts between a batch read's index lookup and its reads (the race, made to
    // happen there): the segments it had located are gone, and it reads the entries again.
    const racing = new FsRecordStore<Doc>(dir, options);
    const readRange = (racing as unknown as { readRange: (...args: unknown[]) => Promise<unknown> }).readRange.bind(racing);
    let compactedFirst = false;
    jest.spyOn(racing as unknown as { readRange: (...args: unknown[]) => Promise<unknown> }, 'readRange').mockImplementation(async (...args: unknown[]) => {
      if (!compactedFirst) {
        compactedFirst = true;
        const writer = new FsRecordStore<Doc>(dir, options);
        for (let round = 30; round < 60; round += 1) await writer.putMany(ids.map((i) => doc(i, `round ${round}`)));
        await writer.close();
        expect(segmentsOf(dir).some((name) => after.includes(name))).toBe(false);
      }
      return readRange(...args);
    });
    expect(await racing.getMany(ids.map(idOf))).toEqual(ids.map((i) => doc(i, 'round 59')));
    expect(compactedFirst).toBe(true);
    expect(await racing.hasMany(ids.map(idOf))).toEqual(ids.map(() => true));
    await racing.close();
    expect(await reader.count()).toBe(20);
    expect((await reader.check()).corrupt).toEqual([]);
  });

  it('several writers at once: each id is added exactly once, and no entry is torn or lost', async () => {
    const dir = dirs.make('seg-writers');
    // Separate handles contend for the folder's lock as separate processes do (an atomic mkdir).
    const writers = Array.from({ length: 4 }, () => new FsRecordStore<Doc>(dir, { segmentBytes: 8000 }));
    const results = await Promise.all(
      writers.map(async (w, k) => {
        let added = 0;
        // Writer k puts ids 50k … 50k+99: each overlaps the next writer by half.
        const mine = Array.from({ length: 100 }, (_, i) => doc(50 * k + i));
        for (let i = 0; i < mine.length; i += 10) added += (await w.putMany(mine.slice(i, i + 10))).added;
        return added;
      }),
    );
    await Promise.all(writers.map((w) => w.close()));
    const union = 50 * 3 + 100;
    expect(results.reduce((a, b) => a + b, 0)).toBe(union);
    const reader = new FsRecordStore<Doc>(dir, { segmentBytes: 8000 });
    expect(await reader.count()).toBe(union);
    expect((await all(reader.ids())).length).toBe(union);
    for (let i = 0; i < union; i += 1) expect(await reader.get(idOf(i))).toEqual(doc(i));
    for (const name of segmentsOf(dir)) expect(scanSegment(readFileSync(join(dir, name)), 0)).toMatchObject({ damaged: [], end: readFileSync(join(dir, name)).length });
  });

  it('waits for a writer in another process and then sees what it appended', async () => {
    const dir = dirs.make('seg-process');
    const store = new FsRecordStore<Doc>(dir);
    await store.putMany([doc(1)]);
    await store.close();
    expect(await store.has(idOf(2))).toBe(false);
    // Another process takes the folder's lock as the store does, appends an entry in the documented
    // framing (`<id> <length> <crc32>\n<payload>\n`), holds on a moment, and lets go.
    const payload = JSON.stringify(doc(2, 'from another process'));
    const child = inAnotherProcess(`
      const { lock } = require('proper-lockfile');
      const fs = require('node:fs');
      const zlib = require('node:zlib');
      const dir = ${JSON.stringify(dir)};
      lock(dir, { lockfilePath: dir + '/write.lock', realpath: false }).then(async (release) => {
        process.stdout.write('locked\\n');
        const payload = Buffer.from(${JSON.stringify(payload)});
        const header = '${idOf(2)} ' + payload.length + ' ' + zlib.crc32(payload).toString(16).padStart(8, '0') + '\\n';
        await new Promise((r) => setTimeout(r, 400));
        fs.appendFileSync(dir + '/segment-000001.log', Buffer.concat([Buffer.from(header), payload, Buffer.from('\\n')]));
        await release();
      });`);
    // Once the child holds the lock, write: the put waits for it, and its "existing" count already
    // knows the other process's entry.
    await child.started;
    const put = await store.putMany([doc(2, 'from another process'), doc(3)]);
    await child.done;
    expect(put).toEqual({ added: 1, existing: 1 });
    expect(await store.get(idOf(2))).toEqual(doc(2, 'from another process'));
    await store.close();
    expect(scanSegment(readFileSync(join(dir, 'segment-000001.log')), 0).entries.map((e) => e.id)).toEqual([idOf(1), idOf(2), idOf(3)]);
  });

  it('opens from the index snapshot plus what was appended after it; check() and a mismatched snapshot scan everything', async () => {
    const dir = dirs.make('seg-snapshot');
    const writer = new FsRecordStore<Doc>(dir, { snapshotMinBytes: 1 });
    await writer.putMany(Array.from({ length: 10 }, (_, i) => doc(i)));
    await writer.close();
    expect(readdirSync(dir)).toContain('index.json');
    // Appended by a handle that never saves the snapshot: a later open must scan this part.
    const late = new FsRecordStore<Doc>(dir, { snapshotMinBytes: 1 << 30 });
    await late.putMany([doc(10), doc(3, 'a newer reading')]);
    await late.close();
    // A damaged header inside what the snapshot covers: an open from the snapshot does not read it
    // (the payload is intact, so the document still reads back), while check() scans every byte.
    const [, second] = segmentEntriesOf(dir);
    overwrite(second.path, second.start, 'zz');
    const reader = new FsRecordStore<Doc>(dir);
    expect(await reader.count()).toBe(11);
    expect(await reader.get(idOf(3))).toEqual(doc(3, 'a newer reading'));
    expect(await reader.get(idOf(10))).toEqual(doc(10));
    expect(await reader.get(second.id)).toEqual(doc(1));
    expect((await reader.check()).corrupt).toEqual([expect.objectContaining({ id: '(unknown)', where: `${second.path} at byte ${second.start}` })]);
    expect(await reader.has(second.id)).toBe(false);
    // A snapshot that is not JSON, or names another folder's segments, is passed over for a scan.
    writeFileSync(join(dir, 'index.json'), '{"v": 1, "segm');
    expect(await new FsRecordStore<Doc>(dir).count()).toBe(10);
    writeFileSync(join(dir, 'index.json'), JSON.stringify({ v: 1, segments: [[7, 10]], ids: [], locs: [], damaged: [], regions: [] }));
    expect(await new FsRecordStore<Doc>(dir).count()).toBe(10);
  });

  it('takes over at once the lock of a writer that was killed (kill -9 leaves it behind)', async () => {
    const dir = dirs.make('seg-killed');
    const lockPath = join(dir, 'write.lock');
    // A writer in another process holds the folder's lock as the store takes it (proper-lockfile,
    // its owner written beside it) and is killed before it can let go.
    const holder = inAnotherProcess(`
      const { lock } = require('proper-lockfile');
      const fs = require('node:fs');
      const os = require('node:os');
      lock(${JSON.stringify(lockPath)}, { lockfilePath: ${JSON.stringify(lockPath)}, realpath: false, stale: 30000 }).then(() => {
        fs.writeFileSync(${JSON.stringify(`${lockPath}-owner.json`)}, JSON.stringify({ pid: process.pid, host: os.hostname(), since: new Date().toISOString(), purpose: 'record store writer' }));
        process.stdout.write('locked\\n');
        process.kill(process.pid, 'SIGKILL');
      });`);
    await holder.started;
    await holder.done.catch(() => undefined);
    const store = new FsRecordStore<Doc>(dir);
    expect(await store.putMany([doc(1)])).toEqual({ added: 1, existing: 0 });
    await store.close();
    expect(await new FsRecordStore<Doc>(dir).get(idOf(1))).toEqual(doc(1));
    // The test's own timeout is below the 30 s after which an abandoned lock counts as stale: a
    // store that waited for staleness instead of seeing the holder is gone would fail it.
  }, 20_000);

  it('writes long strings raw after the JSON, reads a store of plain JSON payloads as before, and rewrites such an entry once', async () => {
    const dir = dirs.make('seg-split');
    const long = (i: number): Doc => doc(i, `\tif (x == "${i}") {\n\t\treturn 'é';\n\t}\n`.repeat(20));
    // A segment as an earlier version wrote it: every payload plain JSON.
    writeFileSync(join(dir, 'segment-000001.log'), Buffer.concat([1, 2].map((i) => encodeEntry(idOf(i), Buffer.from(JSON.stringify(long(i)))))));
    const store = new FsRecordStore<Doc>(dir);
    expect(await store.getMany([idOf(1), idOf(2)])).toEqual([long(1), long(2)]);
    // Put again, the same documents are rewritten in the split form once, then left alone.
    expect(await store.putMany([long(1), long(2), long(3)])).toEqual({ added: 1, existing: 2 });
    const after = segmentEntriesOf(dir);
    expect(after.map((e) => e.id)).toEqual([idOf(1), idOf(2), idOf(1), idOf(2), idOf(3)]);
    const payload = (e: (typeof after)[number]): string => readFileSync(e.path).toString('utf8', e.payloadOffset, e.payloadOffset + e.length);
    expect(payload(after[4])).toMatch(/^#split text:\d+\n\{"id":"0+3","n":3,"text":0\}\n\tif \(x == "3"\)/);
    expect(await store.putMany([long(1), long(2), long(3)])).toEqual({ added: 0, existing: 3 });
    expect(segmentEntriesOf(dir)).toHaveLength(5);
    await store.close();
    const reader = new FsRecordStore<Doc>(dir);
    expect(await reader.getMany([idOf(1), idOf(2), idOf(3)])).toEqual([long(1), long(2), long(3)]);
    expect(await reader.check()).toEqual({ checked: 3, corrupt: [] });
  });
});
