import type { FixRecord } from '@rescue/domain';

/** Writes to a record store failed (disk full, Redis down): the run stops rather than drop data. */
export class RecordStoreError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RecordStoreError';
  }
}

/** Anything stored under a content id (32 hex digits): fix records, slices. */
export interface StoredDocument {
  id: string;
}

/**
 * Where normalized fix records (and, with another type, slices) live between pipeline stages.
 * Documents are content-addressed, so writes are idempotent: putting a document that is already
 * stored changes nothing.
 */
export interface RecordStore<T extends StoredDocument = FixRecord> {
  /** Stores documents not yet present; returns how many were new and how many already stored. */
  putMany(records: T[]): Promise<{ added: number; existing: number }>;
  get(id: string): Promise<T | undefined>;
  has(id: string): Promise<boolean>;
  /** Every stored id, in no particular order. */
  ids(): AsyncIterable<string>;
  count(): Promise<number>;
  close(): Promise<void>;
}

export const RECORD_ID_PATTERN = /^[0-9a-f]{32}$/;

export function assertRecordId(id: string): void {
  if (!RECORD_ID_PATTERN.test(id)) throw new RecordStoreError(`not a record id: ${JSON.stringify(id.slice(0, 40))}`);
}
