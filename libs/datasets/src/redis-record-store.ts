import type { Redis } from 'ioredis';
import type { FixRecord } from '@rescue/domain';
import { assertRecordId, parseStoredDocument, type RecordStore, type StoredDocument, type StoredEntry } from './record-store';

/**
 * The distributed store: one Redis hash `<prefix>:<collection>` mapping id → document JSON
 * (`records` for fix records, `slices` for slices).
 * HSETNX makes writes idempotent and tells which records were new. The connection is owned by the
 * caller (it may be shared with other stores).
 */
export class RedisRecordStore<T extends StoredDocument = FixRecord> implements RecordStore<T> {
  private readonly key: string;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    collection = 'records',
  ) {
    this.key = `${prefix}:${collection}`;
  }

  async putMany(records: T[]): Promise<{ added: number; existing: number }> {
    if (records.length === 0) return { added: 0, existing: 0 };
    records.forEach((r) => assertRecordId(r.id));
    // One HSET per id with its latest reading (the same fix read from another source replaces the
    // earlier free text, as in the folder store); HSET answers 1 for a field it created, 0 for one
    // it overwrote, so a repeated id inside the batch counts once.
    const latest = new Map(records.map((r) => [r.id, JSON.stringify(r)]));
    const pipeline = this.redis.pipeline();
    for (const [id, json] of latest) pipeline.hset(this.key, id, json);
    const results = (await pipeline.exec()) ?? [];
    let added = 0;
    for (const [err, value] of results) {
      if (err) throw err;
      if (value === 1) added += 1;
    }
    return { added, existing: records.length - added };
  }

  async get(id: string): Promise<T | undefined> {
    assertRecordId(id);
    const json = await this.redis.hget(this.key, id);
    return json === null ? undefined : parseStoredDocument<T>(json, id, `Redis hash ${this.key}`);
  }

  async has(id: string): Promise<boolean> {
    assertRecordId(id);
    return (await this.redis.hexists(this.key, id)) === 1;
  }

  async getMany(ids: readonly string[]): Promise<(T | undefined)[]> {
    if (ids.length === 0) return [];
    ids.forEach(assertRecordId);
    const found = await this.redis.hmget(this.key, ...ids);
    return found.map((json, i) => (json === null ? undefined : parseStoredDocument<T>(json, ids[i], `Redis hash ${this.key}`)));
  }

  /**
   * {@link getMany} as the stored JSON's bytes (one HMGET), each parsed and checked when its
   * document is asked for; a document here is plain JSON, so its head is the whole of it.
   */
  async entriesMany(ids: readonly string[]): Promise<(StoredEntry<T> | undefined)[]> {
    if (ids.length === 0) return [];
    ids.forEach(assertRecordId);
    const found = await this.redis.hmgetBuffer(this.key, ...ids);
    return found.map((bytes, i) => {
      if (bytes === null) return undefined;
      let doc: T | undefined;
      const document = (): T => (doc ??= parseStoredDocument<T>(bytes, ids[i], `Redis hash ${this.key}`));
      return { bytes, document, head: document };
    });
  }

  /** Whether each is stored: one pipeline of HEXISTS, answering as has() does. */
  async hasMany(ids: readonly string[]): Promise<boolean[]> {
    if (ids.length === 0) return [];
    ids.forEach(assertRecordId);
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hexists(this.key, id);
    return ((await pipeline.exec()) ?? []).map(([err, value]) => {
      if (err) throw err;
      return value === 1;
    });
  }

  async *ids(): AsyncIterable<string> {
    let cursor = '0';
    do {
      const [next, flat] = await this.redis.hscan(this.key, cursor, 'COUNT', 500);
      cursor = next;
      for (let i = 0; i < flat.length; i += 2) yield flat[i];
    } while (cursor !== '0');
  }

  count(): Promise<number> {
    return this.redis.hlen(this.key);
  }

  async close(): Promise<void> {}
}
