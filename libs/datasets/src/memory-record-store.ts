import type { FixRecord } from '@rescue/domain';
import { assertRecordId, type RecordStore, type StoredDocument } from './record-store';

/** A record store in memory: for one-shot commands (`rescue kb slice --source …`) and tests. */
export class MemoryRecordStore<T extends StoredDocument = FixRecord> implements RecordStore<T> {
  private readonly records = new Map<string, T>();

  async putMany(records: T[]): Promise<{ added: number; existing: number }> {
    let added = 0;
    for (const r of records) {
      assertRecordId(r.id);
      // The latest reading of an id replaces an earlier one (see FsRecordStore.putOne); only new ids count as added.
      if (!this.records.has(r.id)) added += 1;
      this.records.set(r.id, r);
    }
    return { added, existing: records.length - added };
  }

  async get(id: string): Promise<T | undefined> {
    return this.records.get(id);
  }

  async has(id: string): Promise<boolean> {
    return this.records.has(id);
  }

  async getMany(ids: readonly string[]): Promise<(T | undefined)[]> {
    return ids.map((id) => this.records.get(id));
  }

  async hasMany(ids: readonly string[]): Promise<boolean[]> {
    return ids.map((id) => this.records.has(id));
  }

  async *ids(): AsyncIterable<string> {
    yield* [...this.records.keys()];
  }

  async count(): Promise<number> {
    return this.records.size;
  }

  async close(): Promise<void> {}
}
