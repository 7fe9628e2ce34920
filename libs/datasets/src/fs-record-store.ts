import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { readTextIfExists } from './optional-file';
import writeFileAtomic from 'write-file-atomic';
import type { FixRecord } from '@rescue/domain';
import { assertRecordId, checkStoredDocument, type CorruptEntry, parseStoredDocument, type RecordStore, RECORD_ID_PATTERN, type StoredDocument } from './record-store';

/**
 * The embedded store: one JSON file per document under `<dir>/<first two hex>/<id>.json`.
 * Each file is written atomically (write-file-atomic: a temporary name, then a rename), so a crash
 * never leaves half a record and concurrent writers of the same id both end with the same complete file.
 * A file damaged some other way (a copy cut short, a disk fault, a hand edit) is detected on every
 * read and named; writing the same record again replaces it.
 */
export class FsRecordStore<T extends StoredDocument = FixRecord> implements RecordStore<T> {
  constructor(readonly dir: string) {}

  private pathOf(id: string): string {
    assertRecordId(id);
    return join(this.dir, id.slice(0, 2), `${id}.json`);
  }

  /** The stored text of a document, or undefined when there is none. */
  private read(path: string): Promise<string | undefined> {
    return readTextIfExists(path);
  }

  /**
   * Whether a sound copy is stored. A corrupt file (truncated, another id, altered content) counts
   * as absent, so that a stage which skips stored work (the slicer) redoes it and overwrites the
   * file instead of tripping on it later; {@link check} and {@link get} name such a file.
   */
  async has(id: string): Promise<boolean> {
    const path = this.pathOf(id);
    const text = await this.read(path);
    return text !== undefined && checkStoredDocument(text, id, path).ok;
  }

  async putMany(records: T[]): Promise<{ added: number; existing: number; repaired?: CorruptEntry[] }> {
    // Files are independent, so a batch is written concurrently; the shard directories are
    // created once per batch rather than once per record.
    records.forEach((r) => assertRecordId(r.id));
    // A record repeated inside the batch is written once and counted as existing, as in Redis.
    const unique = [...new Map(records.map((r) => [r.id, r])).values()];
    const shards = [...new Set(unique.map((r) => r.id.slice(0, 2)))];
    await Promise.all(shards.map((shard) => mkdir(join(this.dir, shard), { recursive: true })));
    const outcomes = await Promise.all(unique.map((record) => this.putOne(record)));
    const added = outcomes.filter((o) => o.written).length;
    const repaired = outcomes.flatMap((o) => (o.repaired ? [o.repaired] : []));
    // `repaired` only when there was something to repair: the common answer stays the contract's.
    return { added, existing: records.length - added, ...(repaired.length > 0 ? { repaired } : {}) };
  }

  /**
   * Writes one record unless an identical sound copy is stored (a sound copy with other free text
   * is replaced but not counted as added). A corrupt copy is overwritten (that is how
   * re-ingesting repairs the store) and returned, so the caller can say what was repaired.
   */
  private async putOne(record: T): Promise<{ written: boolean; repaired?: CorruptEntry }> {
    const path = this.pathOf(record.id);
    const text = await this.read(path);
    const json = JSON.stringify(record);
    let repaired: CorruptEntry | undefined;
    if (text !== undefined) {
      const checked = checkStoredDocument(text, record.id, path);
      if (checked.ok) {
        // Same id, other free text or origin (the same fix read from another source): the latest
        // reading replaces it, so a build's records never carry an earlier build's words.
        if (text !== json) await writeFileAtomic(path, json);
        return { written: false };
      }
      repaired = checked.corrupt;
    }
    await writeFileAtomic(path, json);
    return { written: true, repaired };
  }

  /** Every corrupt entry in the store, each named with its file and fault (for `rescue kb verify`). */
  async check(): Promise<{ checked: number; corrupt: CorruptEntry[] }> {
    const corrupt: CorruptEntry[] = [];
    let checked = 0;
    for await (const id of this.ids()) {
      const path = this.pathOf(id);
      const text = await this.read(path);
      if (text === undefined) continue;
      checked += 1;
      const result = checkStoredDocument(text, id, path);
      if (!result.ok) corrupt.push(result.corrupt);
    }
    return { checked, corrupt };
  }

  async get(id: string): Promise<T | undefined> {
    const path = this.pathOf(id);
    const text = await this.read(path);
    return text === undefined ? undefined : parseStoredDocument<T>(text, id, path);
  }

  async *ids(): AsyncIterable<string> {
    let shards: string[];
    try {
      shards = (await readdir(this.dir)).filter((d) => /^[0-9a-f]{2}$/.test(d)).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    for (const shard of shards) {
      for (const name of (await readdir(join(this.dir, shard))).sort()) {
        const id = name.replace(/\.json$/, '');
        if (name.endsWith('.json') && RECORD_ID_PATTERN.test(id)) yield id;
      }
    }
  }

  async count(): Promise<number> {
    let n = 0;
    for await (const _ of this.ids()) n += 1;
    return n;
  }

  async close(): Promise<void> {}
}
