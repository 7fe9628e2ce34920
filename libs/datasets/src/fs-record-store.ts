import { statSync } from 'node:fs';
import writeFileAtomic from 'write-file-atomic';
import { type FileHandle, mkdir, open, readdir, readFile, rmdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { ConflictError, type FixRecord } from '@rescue/domain';
import { acquireExclusiveLock, type HeldLock } from './exclusive-lock';
import { crc32, type SegmentScan, scanSegment, segmentName, segmentNumber } from './record-segments';
import {
  assertRecordId,
  checkStoredDocument,
  type CorruptEntry,
  describeCorrupt,
  type RecordStore,
  RecordStoreError,
  type StoredDocument,
  type StoredEntry,
  storedDocumentVerdict,
} from './record-store';
import { decodeStoredHead, decodeStoredPayload, encodeStoredPayload } from './stored-payload';

export interface FsRecordStoreOptions {
  /**
   * A segment at least this big is closed and the next append starts a new one. Every handle on
   * one folder must use the same size (readers look for a new segment once the last one is full).
   */
  segmentBytes?: number;
  /** Compaction runs once the segments hold at least this much and over half of it is superseded. */
  compactMinBytes?: number;
  /** The index snapshot is written again once this much (and a quarter of the store) is not in it. */
  snapshotMinBytes?: number;
}

const SEGMENT_BYTES = 64 << 20;
const COMPACT_MIN_BYTES = 16 << 20;
const SNAPSHOT_MIN_BYTES = 4 << 20;
const SNAPSHOT_FILE = 'index.json';

/**
 * The index as a writer last saved it (`index.json`, written atomically under the lock): where the
 * latest entry of each id is, and how far each segment had been read. Opening a big store reads
 * this and scans only what was appended since, instead of every segment. It is a cache: one that
 * does not match the folder (a segment missing or shorter, an entry header not where it says) is
 * ignored and the segments are scanned.
 */
interface Snapshot {
  v: 1;
  segments: [number, number][];
  ids: string[];
  /** Per id, flattened: segment, start, end, payload offset, length, CRC. */
  locs: number[];
  damaged: [string, number, number, number, string][];
  regions: Region[];
}
/** The folders of the old layout, `<dir>/<first two hex of the id>/<id>.json`. */
const LEGACY_SHARD = /^[0-9a-f]{2}$/;
const LEGACY_FILE = /^([0-9a-f]{32})\.json$/;
/** A writer that holds the folder's lock this long without refreshing it is taken to be dead. */
const LOCK_STALE_MS = 30_000;
/** How long a writer waits for another one. */
const LOCK_WAIT_MS = 60_000;

/** Where the latest entry of an id is. `damage` when its bytes are not a sound entry. */
interface Location {
  seg: number;
  start: number;
  end: number;
  payloadOffset: number;
  length: number;
  crc: number;
  damage?: string;
  /** The content check's verdict, once made: entries never change, so it is made once. */
  verdict?: true | CorruptEntry;
}

/** A held folder lock, and the last segment open for appends while it is held. */
interface Writer {
  held: HeldLock;
  timer?: NodeJS.Timeout;
  append?: { seg: number; fh: FileHandle };
}

/**
 * How long a writer keeps the lock after a batch. An ingest puts a batch every few tens of
 * milliseconds: taking the lock (and catching up with the folder) once for the run instead of once
 * per batch cut bench:ingest's store cost by about a third. Another writer waits this long after
 * the run's last batch, plus its poll of the lock (250 ms).
 */
const LINGER_MS = 100;

/** A segment open for reading, and the reads in flight on it (it is closed once retired and idle). */
interface SegmentReader {
  fh: Promise<FileHandle>;
  reads: number;
  retired: boolean;
}

/** Damaged bytes that name no id: reported by {@link FsRecordStore.check}. */
interface Region {
  seg: number;
  start: number;
  end: number;
  problem: string;
}

const NEWLINE = Buffer.from('\n');
const EMPTY = Buffer.alloc(0);

/**
 * A batch read ({@link FsRecordStore.getMany}) reads a segment's wanted entries in runs of up to
 * this many bytes, a run taking in the bytes between two wanted entries up to
 * {@link READ_RUN_GAP_BYTES}: a rebuild's stages read every record and slice again, and one read
 * per entry (each a round trip to the file system's thread pool) was most of that time.
 */
const READ_RUN_BYTES = 1 << 20;
const READ_RUN_GAP_BYTES = 16 << 10;

/** Whether the lock went stale and may have been taken over (the holder's event loop stalled for `staleMs`). */
function lost(writer: Writer): Error | undefined {
  try {
    writer.held.assertHeld();
    return undefined;
  } catch (err) {
    return err as Error;
  }
}

/**
 * Closes a segment opened for reading. A failure to close a read-only handle loses nothing (no
 * write is pending on it) and has no caller left to tell: the descriptor is gone either way.
 */
function closeReader(reader: SegmentReader): void {
  reader.fh.then((fh) => fh.close()).catch(() => undefined);
}

const isErrno = (err: unknown, code: string): boolean => (err as NodeJS.ErrnoException | undefined)?.code === code;

/**
 * The embedded store: append-only segment files under `<dir>` (`segment-000001.log`, …), each a
 * run of length-prefixed, checksummed entries (see record-segments.ts), the latest entry of an id
 * being its value. One file per record (the old layout) cost a file creation, an fsync and a
 * rename per record: an ingest ran at 22–43× of reading and parsing its input (bench:ingest, on a
 * loaded two-core machine). Here a batch is one append and one fsync: 1.9–3.0× in the same runs.
 * The fsync stays per batch: a put that returned is on disk, and on a shared network volume a
 * worker on another host sees it.
 *
 * - Writers, in this process or others (the workers of a distributed build share the folder),
 *   append under the folder's lock (`write.lock`, acquireExclusiveLock: proper-lockfile's atomic
 *   mkdir, the holder named beside it, taken over when stale or when its process is gone). A writer
 *   waits about a minute for another, then fails naming it.
 * - Readers need no lock: every call catches up with what other handles appended (a stat, and a
 *   read of the new bytes), so another process's records are seen once its putMany has returned.
 * - An append cut short (a crash, a full disk) is an unfinished tail: readers ignore it, the next
 *   writer truncates it rather than trust it. Damage elsewhere (a bad block) is skipped to the next
 *   sound entry and named; a damaged or altered document counts as absent for has(), is named by
 *   get() and check(), and putting the record again supersedes it (re-ingest repairs). Every read
 *   checks the payload's CRC again.
 * - When over half of the bytes are superseded entries, a writer compacts: the latest entry of
 *   each id is copied to new segments and the old ones are removed (entries too damaged to copy
 *   are dropped, so their ids read as absent and the next ingest writes them again).
 * - A folder in the old layout is migrated on first open: each file's bytes become an entry as
 *   they are (a corrupt one is still named as corrupt), then the file is removed.
 * - `index.json` caches the index (see {@link Snapshot}) so that an open need not scan everything.
 * - A payload is the document as JSON, its long strings (a record's code) written after it as raw
 *   UTF-8 (stored-payload.ts): escaping code for JSON was a third of an ingest. Readers take both
 *   forms, so a store written before keeps reading; a document re-put in the new form is rewritten
 *   once (its bytes differ), after which re-puts are identical again.
 */
export class FsRecordStore<T extends StoredDocument = FixRecord> implements RecordStore<T> {
  private readonly segmentBytes: number;
  private readonly compactMinBytes: number;
  private readonly snapshotMinBytes: number;
  /** How many bytes of the segments the snapshot on disk covers (as this handle knows it). */
  private snapshotBytes = 0;
  private index = new Map<string, Location>();
  private regions: Region[] = [];
  /** Segment numbers, ascending; the last one is where appends go. */
  private segments: number[] = [];
  /** How far each segment has been read: just past its last entry that was sound or skipped. */
  private scanned = new Map<number, number>();
  private totalBytes = 0;
  private liveBytes = 0;
  private loaded = false;
  /** Serializes this handle's own index updates and appends; other processes are kept out by the lock. */
  private queue: Promise<unknown> = Promise.resolve();
  /** The folder's lock while this handle writes, kept for a moment after a batch for the next one. */
  private writer?: Writer;
  /**
   * Segments open for reading, kept for {@link LINGER_MS} after the last read. A stage reads its
   * records one get at a time: an open and a close per get were two of its four file system calls
   * (a rebuild's stages read every record again).
   */
  private readers = new Map<number, SegmentReader>();
  private readersTimer?: NodeJS.Timeout;

  constructor(
    readonly dir: string,
    options: FsRecordStoreOptions = {},
  ) {
    this.segmentBytes = options.segmentBytes ?? SEGMENT_BYTES;
    this.compactMinBytes = options.compactMinBytes ?? COMPACT_MIN_BYTES;
    this.snapshotMinBytes = options.snapshotMinBytes ?? SNAPSHOT_MIN_BYTES;
  }

  private exclusive<R>(fn: () => Promise<R>): Promise<R> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private segPath(n: number): string {
    return join(this.dir, segmentName(n));
  }

  private where(seg: number, start: number): string {
    return `${this.segPath(seg)} at byte ${start}`;
  }

  private corruptOf(id: string, loc: Location, problem: string): CorruptEntry {
    return { id, where: this.where(loc.seg, loc.start), problem };
  }

  // ---- reading the segments into the index ----

  private reset(): void {
    // A reload may follow another handle's compaction or a folder made anew: segment numbers that
    // are gone, or name other files now, must be opened again.
    this.retireReaders();
    this.index = new Map();
    this.regions = [];
    this.segments = [];
    this.scanned = new Map();
    this.totalBytes = 0;
    this.liveBytes = 0;
    this.snapshotBytes = 0;
    this.loaded = false;
  }

  private setLocation(id: string, loc: Location): void {
    const prev = this.index.get(id);
    if (prev) this.liveBytes -= prev.end - prev.start;
    this.liveBytes += loc.end - loc.start;
    this.index.set(id, loc);
  }

  /** Indexes what a scan of segment `seg` found; `size` is where the scanned bytes stop. */
  private apply(seg: number, scan: SegmentScan, size: number, isLast: boolean): void {
    const damage = [...scan.damaged];
    // Only the last segment can be mid-append; an unfinished tail anywhere else is damage.
    if (!isLast && scan.end < size) damage.push({ ...(scan.tailId ? { id: scan.tailId } : {}), start: scan.end, end: size, problem: 'is cut short (the segment ends inside it)' });
    // In file order: the latest entry of an id wins, whether sound or damaged.
    const found: (Location & { id?: string; problem?: string })[] = [
      ...scan.entries.map((e) => ({ seg, id: e.id, start: e.start, end: e.end, payloadOffset: e.payloadOffset, length: e.length, crc: e.crc })),
      ...damage.map((d) => ({ seg, ...(d.id ? { id: d.id } : {}), start: d.start, end: d.end, payloadOffset: -1, length: 0, crc: 0, damage: d.problem })),
    ].sort((a, b) => a.start - b.start);
    for (const { id, ...loc } of found) {
      if (id) this.setLocation(id, loc);
      else this.regions.push({ seg, start: loc.start, end: loc.end, problem: loc.damage as string });
    }
    const to = isLast ? scan.end : size;
    this.totalBytes += to - (this.scanned.get(seg) ?? 0);
    this.scanned.set(seg, to);
    if (!this.segments.includes(seg)) this.segments.push(seg);
  }

  private async loadSegment(seg: number, isLast: boolean): Promise<void> {
    const buf = await readFile(this.segPath(seg));
    this.apply(seg, scanSegment(buf, 0), buf.length, isLast);
  }

  /** Reads segment `seg` from where it was last read up to `size`. */
  private async scanTail(seg: number, size: number, isLast: boolean): Promise<void> {
    const from = this.scanned.get(seg) ?? 0;
    const buf = Buffer.alloc(size - from);
    const fh = await open(this.segPath(seg), 'r');
    try {
      const { bytesRead } = await fh.read(buf, 0, buf.length, from);
      const got = buf.subarray(0, bytesRead);
      this.apply(seg, scanSegment(got, from), from + bytesRead, isLast);
    } finally {
      await fh.close();
    }
  }

  /** The folder's entries; an absent folder is an empty store, anything else unreadable is an error. */
  private async listDir(): Promise<string[]> {
    try {
      return await readdir(this.dir);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return [];
      throw err;
    }
  }

  private static segmentsIn(names: string[]): number[] {
    return names
      .map(segmentNumber)
      .filter((n): n is number => n !== undefined)
      .sort((a, b) => a - b);
  }

  /**
   * Reads the index again: from the snapshot and what was appended after it, or (`fresh`, or
   * without a usable snapshot) every segment from the start. Migrates an old-layout folder first
   * (under the lock).
   */
  private async reload(locked: boolean, fresh = false): Promise<void> {
    this.reset();
    const names = await this.listDir();
    const segs = FsRecordStore.segmentsIn(names);
    const legacy = names.filter((n) => LEGACY_SHARD.test(n)).sort();
    if (!fresh && legacy.length === 0 && (await this.loadSnapshot(segs))) {
      this.loaded = true;
      return this.catchUp(true, locked);
    }
    this.reset();
    for (const [i, n] of segs.entries()) await this.loadSegment(n, i === segs.length - 1);
    this.loaded = true;
    if (legacy.length === 0) return;
    if (!locked) {
      // Another process may be migrating too: under the lock, look again.
      await this.withFolderLock(() => this.reload(true));
      return;
    }
    await this.truncateTail();
    await this.migrate(legacy);
  }

  /** Takes the index from the snapshot when it matches the segments on disk; false when it cannot be used. */
  private async loadSnapshot(segs: number[]): Promise<boolean> {
    let snap: Snapshot;
    try {
      snap = JSON.parse(await readFile(join(this.dir, SNAPSHOT_FILE), 'utf8')) as Snapshot;
    } catch (_absentOrDamaged) {
      // No snapshot yet, or one cut short: scanning the segments gives the same index, only slower.
      return false;
    }
    if (snap?.v !== 1 || !Array.isArray(snap.segments) || snap.segments.length === 0 || snap.locs?.length !== snap.ids?.length * 6) return false;
    const last = snap.segments.at(-1)![0];
    // Segments are numbered upwards and never reused: the snapshot's must all be there, newer ones may follow.
    const known = segs.filter((n) => n <= last);
    if (known.length !== snap.segments.length || known.some((n, i) => n !== snap.segments[i][0])) return false;
    for (const [n, to] of snap.segments) {
      const size = statSync(this.segPath(n), { throwIfNoEntry: false })?.size;
      if (size === undefined || size < to) return false;
    }
    const lastEntry = new Map<number, [string, number]>();
    for (let i = 0; i < snap.ids.length; i += 1) {
      const [seg, start, end, payloadOffset, length, crc] = snap.locs.slice(i * 6, i * 6 + 6);
      this.setLocation(snap.ids[i], { seg, start, end, payloadOffset, length, crc });
      if ((lastEntry.get(seg)?.[1] ?? -1) < start) lastEntry.set(seg, [snap.ids[i], start]);
    }
    for (const [id, seg, start, end, problem] of snap.damaged) this.setLocation(id, { seg, start, end, payloadOffset: -1, length: 0, crc: 0, damage: problem });
    this.regions = snap.regions;
    // One header per segment read back: a folder rebuilt under the same names would not match.
    for (const [seg, [id, start]] of lastEntry) {
      const fh = await open(this.segPath(seg), 'r');
      try {
        const head = Buffer.alloc(33);
        await fh.read(head, 0, 33, start);
        if (head.toString('latin1') !== `${id} `) return false;
      } finally {
        await fh.close();
      }
    }
    for (const [n, to] of snap.segments) {
      this.segments.push(n);
      this.scanned.set(n, to);
      this.totalBytes += to;
    }
    this.snapshotBytes = this.totalBytes;
    return true;
  }

  /**
   * Under the lock: saves the index once enough is not in the snapshot (at least
   * `snapshotMinBytes` and a quarter of the store), so that rewriting it costs a bounded share of
   * the writes while an open scans at most about that much.
   */
  private async maybeSnapshot(): Promise<void> {
    const behind = this.totalBytes - this.snapshotBytes;
    if (behind < this.snapshotMinBytes || behind * 4 < this.totalBytes || this.segments.length === 0) return;
    await this.writeSnapshot();
  }

  private async writeSnapshot(): Promise<void> {
    const ids: string[] = [];
    const locs: number[] = [];
    const damaged: Snapshot['damaged'] = [];
    for (const [id, loc] of this.index) {
      if (loc.damage) damaged.push([id, loc.seg, loc.start, loc.end, loc.damage]);
      else {
        ids.push(id);
        locs.push(loc.seg, loc.start, loc.end, loc.payloadOffset, loc.length, loc.crc);
      }
    }
    const snap: Snapshot = { v: 1, segments: this.segments.map((n) => [n, this.scanned.get(n) ?? 0]), ids, locs, damaged, regions: this.regions };
    // Not fsynced: it is a cache checked against the segments on open, so one a crash left empty
    // or cut short is only ignored (the segments are scanned), and an fsync here was a disk wait
    // at the end of every ingest.
    await writeFileAtomic(join(this.dir, SNAPSHOT_FILE), JSON.stringify(snap), { fsync: false });
    this.snapshotBytes = this.totalBytes;
  }

  /**
   * Catches up with what other handles wrote since this one last looked. `list` also looks for
   * new segments (a writer rolls to one once the last is full, so a stat of that is enough unless
   * it is full; a miss looks anyway, to be sure). A segment gone means another handle compacted:
   * everything is read again.
   */
  private async sync(list: boolean, locked = false): Promise<void> {
    if (!this.loaded) return this.reload(locked);
    // While this handle holds the lock, no one else appends: the index is the folder.
    if (this.writer && !lost(this.writer)) return;
    return this.catchUp(list, locked);
  }

  private async catchUp(list: boolean, locked: boolean): Promise<void> {
    const active = this.segments.at(-1);
    const sizeOf = (n: number): number | undefined => {
      try {
        return statSync(this.segPath(n)).size;
      } catch (err) {
        if (isErrno(err, 'ENOENT')) return undefined;
        throw err;
      }
    };
    let size = active === undefined ? undefined : sizeOf(active);
    if (active !== undefined && size === undefined) return this.reload(locked);
    let newer: number[] = [];
    if (list || active === undefined || size! >= this.segmentBytes) {
      const names = await this.listDir();
      const found = FsRecordStore.segmentsIn(names);
      if (this.segments.some((n) => !found.includes(n))) return this.reload(locked);
      if (this.segments.length === 0 && names.some((n) => LEGACY_SHARD.test(n))) return this.reload(locked);
      newer = found.filter((n) => active === undefined || n > active);
      // Stat again after listing: whatever was appended to it before a roll is in it by now.
      if (active !== undefined) size = sizeOf(active);
      if (active !== undefined && size === undefined) return this.reload(locked);
    }
    if (active !== undefined && size! > (this.scanned.get(active) ?? 0)) await this.scanTail(active, size!, newer.length === 0);
    for (const [i, n] of newer.entries()) await this.loadSegment(n, i === newer.length - 1);
  }

  // ---- writing ----

  /**
   * Takes the folder's lock (exclusive-lock.ts: proper-lockfile, the holder named beside it, a lock
   * left by a killed process on this host taken over at once); waits about a minute for another
   * writer, then fails naming it.
   */
  private async lockFolder(): Promise<Writer> {
    await mkdir(this.dir, { recursive: true });
    try {
      return { held: await acquireExclusiveLock(join(this.dir, 'write.lock'), { purpose: 'record store writer', waitMs: LOCK_WAIT_MS, staleMs: LOCK_STALE_MS }) };
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      throw new RecordStoreError(`the record store ${this.dir} takes one writer at a time: ${err.message}`, { cause: err });
    }
  }

  /** Runs `fn` holding the folder's lock, taken for it alone (a migration opened by a reader). */
  private async withFolderLock<R>(fn: () => Promise<R>): Promise<R> {
    const writer = await this.lockFolder();
    try {
      return await fn();
    } finally {
      await writer.held.release();
    }
  }

  /**
   * The held lock for a batch, taken (and the index caught up with the folder, an unfinished tail
   * cut) unless this handle still holds it from its last batch: then no other writer can have
   * written meanwhile, and nothing need be read again.
   */
  private async writerForBatch(repaired: CorruptEntry[]): Promise<Writer> {
    const held = this.writer;
    if (held) {
      clearTimeout(held.timer);
      if (!lost(held)) return held;
      // The lock went stale and may have been taken over: start again from what is on disk.
      this.writer = undefined;
      await held.append?.fh.close();
      this.loaded = false;
    }
    const writer = await this.lockFolder();
    try {
      await this.sync(true, true);
      const cut = await this.truncateTail();
      if (cut) repaired.push(cut);
    } catch (err) {
      await writer.held.release();
      throw err;
    }
    this.writer = writer;
    return writer;
  }

  /** Lets the lock go (after {@link LINGER_MS} without a batch, or at close). */
  private async releaseWriter(): Promise<void> {
    const writer = this.writer;
    if (!writer) return;
    this.writer = undefined;
    clearTimeout(writer.timer);
    try {
      await writer.append?.fh.close();
      if (!lost(writer)) await this.maybeSnapshot();
    } finally {
      await writer.held.release();
    }
  }

  /** Under the lock: cuts an unfinished tail off the last segment; returns what it was, if it named an id. */
  private async truncateTail(): Promise<CorruptEntry | undefined> {
    const active = this.segments.at(-1);
    if (active === undefined) return undefined;
    const path = this.segPath(active);
    const scannedTo = this.scanned.get(active) ?? 0;
    const fh = await open(path, 'r+');
    try {
      const { size } = await fh.stat();
      if (size <= scannedTo) return undefined;
      const head = Buffer.alloc(Math.min(64, size - scannedTo));
      await fh.read(head, 0, head.length, scannedTo);
      await fh.truncate(scannedTo);
      await fh.datasync();
      const id = /^([0-9a-f]{32}) /.exec(head.toString('latin1'))?.[1];
      return id ? { id, where: this.where(active, scannedTo), problem: `was an append cut short (${size - scannedTo} bytes, a write that never finished); truncated` } : undefined;
    } finally {
      await fh.close();
    }
  }

  /**
   * Under the lock, caught up: appends the entries, rolling to a new segment when the last is
   * full, and indexes them once they are on disk.
   */
  private async append(items: { id: string; payload: Buffer; crc: number }[]): Promise<void> {
    if (items.length === 0) return;
    let active = this.segments.at(-1);
    let created = false;
    if (active === undefined || (this.scanned.get(active) ?? 0) >= this.segmentBytes) {
      active = (active ?? 0) + 1;
      created = true;
    }
    const base = created ? 0 : (this.scanned.get(active) ?? 0);
    const parts: Buffer[] = [];
    const located: [string, Location][] = [];
    let at = base;
    for (const { id, payload, crc } of items) {
      const header = Buffer.from(`${id} ${payload.length} ${crc.toString(16).padStart(8, '0')}\n`, 'latin1');
      const start = at;
      const payloadOffset = start + header.length;
      at = payloadOffset + payload.length + 1;
      parts.push(header, payload, NEWLINE);
      located.push([id, { seg: active, start, end: at, payloadOffset, length: payload.length, crc }]);
    }
    await this.writev(active, parts);
    if (created) await this.syncDir();
    if (!this.segments.includes(active)) this.segments.push(active);
    this.scanned.set(active, at);
    this.totalBytes += at - base;
    for (const [id, loc] of located) this.setLocation(id, loc);
  }

  /**
   * Appends to segment `seg` and makes it durable before the batch counts as stored. The file stays
   * open while this handle holds the lock; a handle without one (a migration) opens it for the call.
   */
  private async writev(seg: number, parts: Buffer[]): Promise<void> {
    const writer = this.writer;
    if (!writer) {
      const fh = await open(this.segPath(seg), 'a');
      try {
        await fh.writev(parts);
        await fh.datasync();
      } finally {
        await fh.close();
      }
      return;
    }
    if (writer.append?.seg !== seg) {
      await writer.append?.fh.close();
      writer.append = undefined;
      writer.append = { seg, fh: await open(this.segPath(seg), 'a') };
    }
    await writer.append.fh.writev(parts);
    await writer.append.fh.datasync();
  }

  /** Makes a new or removed file name durable. */
  private async syncDir(): Promise<void> {
    const dh = await open(this.dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  }

  async putMany(records: T[]): Promise<{ added: number; existing: number; repaired?: CorruptEntry[] }> {
    records.forEach((r) => assertRecordId(r.id));
    if (records.length === 0) return { added: 0, existing: 0 };
    return this.exclusive(async () => {
      const repaired: CorruptEntry[] = [];
      const writer = await this.writerForBatch(repaired);
      try {
        const added = await this.putLocked(records, repaired);
        // Another writer may have appended beside this one: say so, and let the caller retry (puts are idempotent).
        const gone = lost(writer);
        if (gone) throw new RecordStoreError(`${gone.message} (while writing to the record store ${this.dir}; a put is idempotent)`, { cause: gone });
        return { added, existing: records.length - added, ...(repaired.length > 0 ? { repaired } : {}) };
      } catch (err) {
        // What is on disk is no longer what the index says (a failed write may have left a tail).
        await this.releaseWriter();
        this.loaded = false;
        throw err;
      } finally {
        if (this.writer === writer) writer.timer = setTimeout(() => void this.exclusive(() => this.releaseWriter()), LINGER_MS).unref();
      }
    });
  }

  /** Under the lock, caught up: appends what is new or changed; returns how many ids were added. */
  private async putLocked(records: T[], repaired: CorruptEntry[]): Promise<number> {
    // A record repeated inside the batch is written once (its last reading) and counted as existing.
    const latest = new Map(records.map((r) => [r.id, r]));
    const items: { id: string; payload: Buffer; crc: number }[] = [];
    let added = 0;
    for (const [id, record] of latest) {
      const payload = encodeStoredPayload(record);
      const crc = crc32(payload);
      const loc = this.index.get(id);
      if (!loc) {
        added += 1;
        items.push({ id, payload, crc });
        continue;
      }
      const verdict = await this.verdictOf(id, loc, loc.length === payload.length && loc.crc === crc ? payload : undefined);
      if (verdict === 'identical') continue;
      if (verdict === true) {
        // Same id, other free text or origin (the same fix read from another source): the latest
        // reading replaces it, so a build's records never carry an earlier build's words.
        items.push({ id, payload, crc });
        continue;
      }
      // A corrupt entry is superseded by a sound one: that is how re-ingesting repairs the store.
      repaired.push(verdict);
      added += 1;
      items.push({ id, payload, crc });
    }
    await this.append(items);
    if (this.totalBytes >= this.compactMinBytes && this.liveBytes * 2 < this.totalBytes) await this.compact();
    return added;
  }

  /**
   * Whether an existing entry is sound (`true`), names what is wrong with it, or (given the bytes
   * about to be written, when length and CRC already agree) holds exactly those bytes.
   */
  private async verdictOf(id: string, loc: Location, same?: Buffer): Promise<true | CorruptEntry | 'identical'> {
    if (loc.damage) return this.corruptOf(id, loc, loc.damage);
    if (loc.verdict && !same) return loc.verdict;
    const stored = await this.readPayload(loc);
    if (loc.damage) return this.corruptOf(id, loc, loc.damage);
    if (same && stored.equals(same)) return 'identical';
    loc.verdict ??= storedDocumentVerdict(stored, id, this.where(loc.seg, loc.start));
    return loc.verdict;
  }

  /** Under the lock: copies the latest entry of each id to new segments, then removes the old ones. */
  private async compact(): Promise<void> {
    const old = [...this.segments];
    const byseg = new Map<number, Location[]>();
    for (const loc of this.index.values()) {
      if (loc.damage) continue;
      const list = byseg.get(loc.seg);
      if (list) list.push(loc);
      else byseg.set(loc.seg, [loc]);
    }
    let next = (old.at(-1) ?? 0) + 1;
    let parts: Buffer[] = [];
    let bytes = 0;
    const flush = async (): Promise<void> => {
      if (bytes === 0) return;
      const fh = await open(this.segPath(next), 'wx');
      try {
        await fh.writev(parts);
        await fh.datasync();
      } finally {
        await fh.close();
      }
      next += 1;
      parts = [];
      bytes = 0;
    };
    for (const seg of old) {
      const locs = (byseg.get(seg) ?? []).sort((a, b) => a.start - b.start);
      if (locs.length === 0) continue;
      const buf = await readFile(this.segPath(seg));
      for (const loc of locs) {
        parts.push(buf.subarray(loc.start, loc.end));
        bytes += loc.end - loc.start;
        if (bytes >= this.segmentBytes) await flush();
      }
    }
    await flush();
    await this.syncDir();
    // The copies are durable before the originals go; a crash in between leaves both, which read
    // the same (the copies come later, so they are the latest) until the next compaction.
    for (const seg of old) await unlink(this.segPath(seg));
    await this.syncDir();
    await this.reload(true, true);
    // The old snapshot names segments that are gone: replace it now rather than let every open scan.
    await this.writeSnapshot();
  }

  /** Under the lock: moves an old one-file-per-record folder's documents into segments, bytes unchanged. */
  private async migrate(shards: string[]): Promise<void> {
    for (const shard of shards) {
      const shardDir = join(this.dir, shard);
      const names = (await readdir(shardDir)).filter((n) => LEGACY_FILE.test(n)).sort();
      const items: { id: string; payload: Buffer; crc: number }[] = [];
      for (const name of names) {
        const payload = await readFile(join(shardDir, name));
        items.push({ id: name.slice(0, 32), payload, crc: crc32(payload) });
      }
      await this.append(items);
      for (const name of names) await unlink(join(shardDir, name));
      try {
        await rmdir(shardDir);
      } catch (err) {
        // Something else lives there (a temporary file of an old writer): leave the folder.
        if (!isErrno(err, 'ENOTEMPTY')) throw err;
      }
    }
  }

  // ---- reading documents ----

  /**
   * An entry's payload, its checksum checked again: bytes damaged after the entry was indexed (a
   * bad block, a hand edit) mark it damaged, and the empty buffer comes back.
   */
  private async readPayload(loc: Location): Promise<Buffer> {
    const { buf, bytesRead } = await this.readRange(loc.seg, loc.payloadOffset, loc.length);
    return this.checkedPayload(loc, buf, 0, bytesRead);
  }

  /**
   * The payload of `loc` from `buf` (read from the segment at `loc.payloadOffset - at`, `bytesRead`
   * of it), its checksum checked: damage marks the location, and the empty buffer comes back.
   */
  private checkedPayload(loc: Location, buf: Buffer, at: number, bytesRead: number): Buffer {
    const payload = buf.subarray(at, at + loc.length);
    if (bytesRead < at + loc.length) loc.damage = 'is cut short (the segment was truncated after it was read)';
    else if (crc32(payload) !== loc.crc) loc.damage = 'fails its checksum (damaged after it was written)';
    return loc.damage ? Buffer.alloc(0) : payload;
  }

  /** `length` bytes of segment `seg` from `position`, through the segment's open reader. */
  private async readRange(seg: number, position: number, length: number): Promise<{ buf: Buffer; bytesRead: number }> {
    const reader = this.readerOf(seg);
    reader.reads += 1;
    try {
      const fh = await reader.fh;
      const buf = Buffer.alloc(length);
      const { bytesRead } = await fh.read(buf, 0, length, position);
      return { buf, bytesRead };
    } catch (err) {
      // A segment that could not be opened (removed meanwhile) is opened afresh by the next read.
      if (this.readers.get(seg) === reader) this.readers.delete(seg);
      reader.retired = true;
      throw err;
    } finally {
      reader.reads -= 1;
      if (reader.retired && reader.reads === 0) closeReader(reader);
      if (this.readersTimer) this.readersTimer.refresh();
      else this.readersTimer = setTimeout(() => this.retireReaders(), LINGER_MS).unref();
    }
  }

  /** The open reader of segment `seg`, opened now if it is not. */
  private readerOf(seg: number): SegmentReader {
    let reader = this.readers.get(seg);
    if (!reader) {
      const fh = open(this.segPath(seg), 'r');
      // Its failure is thrown to the read that awaits it; marked handled meanwhile.
      fh.catch(() => undefined);
      reader = { fh, reads: 0, retired: false };
      this.readers.set(seg, reader);
    }
    return reader;
  }

  /** Closes the open readers, each once no read is in flight on it. */
  private retireReaders(): void {
    clearTimeout(this.readersTimer);
    this.readersTimer = undefined;
    for (const reader of this.readers.values()) {
      reader.retired = true;
      if (reader.reads === 0) closeReader(reader);
    }
    this.readers.clear();
  }

  /** The current location of `id`, looking for new segments when it is not (yet) known. */
  private async locate(id: string): Promise<Location | undefined> {
    assertRecordId(id);
    await this.exclusive(() => this.sync(false));
    if (this.index.has(id)) return this.index.get(id);
    await this.exclusive(() => this.sync(true));
    return this.index.get(id);
  }

  /** Reads an entry's payload; a segment removed meanwhile (another handle compacted) is looked up again once. */
  private async payloadOf(id: string): Promise<{ loc: Location; payload: Buffer } | undefined> {
    for (let attempt = 0; ; attempt += 1) {
      const loc = await this.locate(id);
      if (!loc || loc.damage) return loc ? { loc, payload: EMPTY } : undefined;
      try {
        return { loc, payload: await this.readPayload(loc) };
      } catch (err) {
        if (!isErrno(err, 'ENOENT') || attempt > 0) throw err;
        await this.exclusive(() => this.reload(false));
      }
    }
  }

  /**
   * The payloads of `ids` (in their order; undefined where absent): the entries of each segment
   * read in runs of neighbours, one read per run (see {@link READ_RUN_BYTES}), instead of one read
   * per entry. A run whose segment is gone (another handle compacted) is read entry by entry.
   */
  private async payloadsOf(ids: readonly string[]): Promise<({ loc: Location; payload: Buffer } | undefined)[]> {
    ids.forEach(assertRecordId);
    await this.exclusive(() => this.sync(false));
    if (ids.some((id) => !this.index.has(id))) await this.exclusive(() => this.sync(true));
    const out: ({ loc: Location; payload: Buffer } | undefined)[] = new Array(ids.length).fill(undefined);
    const bySegment = new Map<number, { at: number; loc: Location }[]>();
    ids.forEach((id, at) => {
      const loc = this.index.get(id);
      if (!loc) return;
      if (loc.damage) out[at] = { loc, payload: EMPTY };
      else {
        const list = bySegment.get(loc.seg);
        if (list) list.push({ at, loc });
        else bySegment.set(loc.seg, [{ at, loc }]);
      }
    });
    const runs: { seg: number; start: number; end: number; entries: { at: number; loc: Location }[] }[] = [];
    for (const [seg, entries] of bySegment) {
      entries.sort((a, b) => a.loc.payloadOffset - b.loc.payloadOffset);
      for (const e of entries) {
        const last = runs[runs.length - 1];
        const end = e.loc.payloadOffset + e.loc.length;
        if (last && last.seg === seg && e.loc.payloadOffset - last.end <= READ_RUN_GAP_BYTES && end - last.start <= READ_RUN_BYTES) {
          last.end = Math.max(last.end, end);
          last.entries.push(e);
        } else runs.push({ seg, start: e.loc.payloadOffset, end, entries: [e] });
      }
    }
    await Promise.all(
      runs.map(async (run) => {
        let read: { buf: Buffer; bytesRead: number };
        try {
          read = await this.readRange(run.seg, run.start, run.end - run.start);
        } catch (err) {
          if (!isErrno(err, 'ENOENT')) throw err;
          for (const { at } of run.entries) out[at] = await this.payloadOf(ids[at]);
          return;
        }
        for (const { at, loc } of run.entries) {
          out[at] = { loc, payload: this.checkedPayload(loc, read.buf, loc.payloadOffset - run.start, read.bytesRead) };
        }
      }),
    );
    return out;
  }

  /**
   * Whether a sound copy is stored. A corrupt entry (damaged, another id, altered content) counts
   * as absent, so that a stage which skips stored work (the slicer) redoes it and supersedes the
   * entry instead of tripping on it later; {@link check} and {@link get} name it.
   */
  async has(id: string): Promise<boolean> {
    const found = await this.payloadOf(id);
    return found !== undefined && this.isSound(id, found);
  }

  /** Whether a payload read for `id` is a sound copy of it (its content checked once per entry). */
  private isSound(id: string, found: { loc: Location; payload: Buffer }): boolean {
    if (found.loc.damage) return false;
    found.loc.verdict ??= storedDocumentVerdict(found.payload, id, this.where(found.loc.seg, found.loc.start));
    return found.loc.verdict === true;
  }

  async get(id: string): Promise<T | undefined> {
    const found = await this.payloadOf(id);
    return found ? this.documentOf(id, found) : undefined;
  }

  /** {@link get} of each of `ids`, in their order, read a run of neighbouring entries at a time; throws as get does for the first damaged one. */
  async getMany(ids: readonly string[]): Promise<(T | undefined)[]> {
    return (await this.payloadsOf(ids)).map((found, i) => (found ? this.documentOf(ids[i], found) : undefined));
  }

  /**
   * The document a read payload holds; throws, naming it, for a damaged or corrupt entry. Its
   * content is checked once per entry (a record's code hashed to its id): a later read of the same
   * entry, its checksum checked again, is only decoded. A rebuild reads every record twice (the
   * ingest's replay, then the summarize stage), and hashing the code again was most of the second.
   */
  private documentOf(id: string, found: { loc: Location; payload: Buffer }): T {
    const { loc, payload } = found;
    this.assertUndamaged(id, loc);
    const where = this.where(loc.seg, loc.start);
    if (loc.verdict === true) return decodeStoredPayload(payload) as T;
    const checked = checkStoredDocument<T>(payload, id, where);
    loc.verdict = checked.ok ? true : checked.corrupt;
    if (!checked.ok) throw new RecordStoreError(describeCorrupt(checked.corrupt), { kind: 'invalid-input' });
    return checked.doc;
  }

  /** Throws, naming the entry, when its bytes failed their checksum or were cut short. */
  private assertUndamaged(id: string, loc: Location): void {
    if (loc.damage) throw new RecordStoreError(describeCorrupt({ id, where: this.where(loc.seg, loc.start), problem: loc.damage }), { kind: 'invalid-input' });
  }

  /** {@link getMany}, its documents decoded only when asked; a damaged entry throws here, as getMany throws. */
  async entriesMany(ids: readonly string[]): Promise<(StoredEntry<T> | undefined)[]> {
    return (await this.payloadsOf(ids)).map((found, i) => {
      if (!found) return undefined;
      this.assertUndamaged(ids[i], found.loc);
      let doc: T | undefined;
      const document = (): T => (doc ??= this.documentOf(ids[i], found));
      const head = (): T => {
        if (doc) return doc;
        try {
          return decodeStoredHead(found.payload) as T;
        } catch (_undecodable) {
          // Not a sound payload: the whole check names the entry and what is wrong with it.
          return document();
        }
      };
      return { bytes: found.payload, document, head };
    });
  }

  /** {@link has} of each of `ids`, in their order, read a run of neighbouring entries at a time. */
  async hasMany(ids: readonly string[]): Promise<boolean[]> {
    return (await this.payloadsOf(ids)).map((found, i) => found !== undefined && this.isSound(ids[i], found));
  }

  /** Every corrupt entry in the store, each named with its segment, offset and fault (for `rescue kb verify`). */
  async check(): Promise<{ checked: number; corrupt: CorruptEntry[] }> {
    return this.exclusive(async () => {
      // Every segment scanned, not the snapshot trusted: damage between entries shows only so.
      await this.releaseWriter();
      await this.reload(false, true);
      const corrupt: CorruptEntry[] = this.regions.map((r) => ({
        id: '(unknown)',
        where: this.where(r.seg, r.start),
        problem: `${r.problem}: ${r.end - r.start} bytes that are no entry were skipped`,
      }));
      const byseg = new Map<number, [string, Location][]>();
      for (const [id, loc] of this.index) {
        if (loc.damage) corrupt.push(this.corruptOf(id, loc, loc.damage));
        else {
          const list = byseg.get(loc.seg);
          if (list) list.push([id, loc]);
          else byseg.set(loc.seg, [[id, loc]]);
        }
      }
      for (const [seg, locs] of byseg) {
        const buf = await readFile(this.segPath(seg));
        for (const [id, loc] of locs) {
          if (crc32(buf.subarray(loc.payloadOffset, loc.payloadOffset + loc.length)) !== loc.crc) {
            loc.damage = 'fails its checksum (damaged after it was written)';
            corrupt.push(this.corruptOf(id, loc, loc.damage));
            continue;
          }
          loc.verdict = storedDocumentVerdict(buf.subarray(loc.payloadOffset, loc.payloadOffset + loc.length), id, this.where(seg, loc.start));
          if (loc.verdict !== true) corrupt.push(loc.verdict);
        }
      }
      return { checked: this.index.size, corrupt };
    });
  }

  /** Every stored id (a corrupt entry's too), sorted, as the one-file layout listed them. */
  async *ids(): AsyncIterable<string> {
    const ids = await this.exclusive(async () => {
      await this.sync(true);
      return [...this.index.keys()].sort();
    });
    yield* ids;
  }

  async count(): Promise<number> {
    return this.exclusive(async () => {
      await this.sync(true);
      return this.index.size;
    });
  }

  /** Lets go of the folder's lock, and of the segments open for reading, now rather than after {@link LINGER_MS}. */
  async close(): Promise<void> {
    this.retireReaders();
    await this.exclusive(() => this.releaseWriter());
  }
}
