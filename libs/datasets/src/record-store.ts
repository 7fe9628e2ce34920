import { type FixRecord, RescueError } from '@rescue/domain';

/**
 * A record store failed: the run stops rather than drop data. `transient` (the default) when the
 * store itself failed (disk full, Redis down): a retry may pass. `invalid-input` when what was asked
 * or found is bad (not a record id, a stored document that is not JSON): a retry fails the same way.
 */
export class RecordStoreError extends RescueError {
  readonly kind: 'transient' | 'invalid-input';

  constructor(message: string, options?: { cause?: unknown; kind?: 'transient' | 'invalid-input' }) {
    super(message, options);
    this.kind = options?.kind ?? 'transient';
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
  if (!RECORD_ID_PATTERN.test(id)) throw new RecordStoreError(`not a record id: ${JSON.stringify(id.slice(0, 40))}`, { kind: 'invalid-input' });
}

/** A stored document read back; a corrupt one (not JSON) is named by id and place, and is not retried. */
export function parseStoredDocument<T>(json: string, id: string, where: string): T {
  try {
    return JSON.parse(json) as T;
  } catch (err) {
    throw new RecordStoreError(`stored document ${id} in ${where} is not valid JSON (${(err as Error).message})`, { cause: err, kind: 'invalid-input' });
  }
}
