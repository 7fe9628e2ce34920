import { access, mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import type { FixRecord } from '@rescue/domain';
import { assertRecordId, parseStoredDocument, type RecordStore, RECORD_ID_PATTERN, type StoredDocument } from './record-store';

/**
 * The embedded store: one JSON file per document under `<dir>/<first two hex>/<id>.json`.
 * Each file is written atomically (write-file-atomic: a temporary name, then a rename), so a crash
 * never leaves half a record and concurrent writers of the same id both end with the same complete file.
 */
export class FsRecordStore<T extends StoredDocument = FixRecord> implements RecordStore<T> {
  constructor(readonly dir: string) {}

  private pathOf(id: string): string {
    assertRecordId(id);
    return join(this.dir, id.slice(0, 2), `${id}.json`);
  }

  async has(id: string): Promise<boolean> {
    const path = this.pathOf(id);
    try {
      await access(path);
      return true;
    } catch (err) {
      // Only "not there" means absent; an unreadable folder must not pass for an empty store.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  async putMany(records: T[]): Promise<{ added: number; existing: number }> {
    // Files are independent, so a batch is written concurrently; the shard directories are
    // created once per batch rather than once per record.
    records.forEach((r) => assertRecordId(r.id));
    // A record repeated inside the batch is written once and counted as existing, as in Redis.
    const unique = [...new Map(records.map((r) => [r.id, r])).values()];
    const shards = [...new Set(unique.map((r) => r.id.slice(0, 2)))];
    await Promise.all(shards.map((shard) => mkdir(join(this.dir, shard), { recursive: true })));
    const outcomes = await Promise.all(unique.map((record) => this.putOne(record)));
    const added = outcomes.filter(Boolean).length;
    return { added, existing: records.length - added };
  }

  /** Writes one record unless present; true when this call created it. */
  private async putOne(record: T): Promise<boolean> {
    if (await this.has(record.id)) return false;
    await writeFileAtomic(this.pathOf(record.id), JSON.stringify(record));
    return true;
  }

  async get(id: string): Promise<T | undefined> {
    const path = this.pathOf(id);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    return parseStoredDocument<T>(text, id, path);
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
