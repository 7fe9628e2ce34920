import { type CweId, type FixRecord, type Language, RescueError } from '@rescue/domain';
import { fixRecordId } from './normalize';
import { decodeStoredHead, decodeStoredPayload } from './stored-payload';

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
  /**
   * Stores documents not yet present; returns how many were new and how many already stored. A
   * store that can tell a corrupt copy (the folder store) supersedes it and lists it in `repaired`.
   */
  putMany(records: T[]): Promise<{ added: number; existing: number; repaired?: CorruptEntry[] }>;
  get(id: string): Promise<T | undefined>;
  has(id: string): Promise<boolean>;
  /**
   * {@link get} of each of `ids`, in their order: what a stage that reads many documents calls, so
   * a store can read them together (neighbouring segment entries in one read, one HMGET).
   */
  getMany(ids: readonly string[]): Promise<(T | undefined)[]>;
  /** {@link has} of each of `ids`, in their order, read together as getMany is. */
  hasMany(ids: readonly string[]): Promise<boolean[]>;
  /**
   * Optional: {@link getMany}'s documents as the bytes stored, each decoded only when asked (and
   * then checked as getMany checks it). What a stage keys a cache by: the summarize stage hashes a
   * cluster's stored bytes, so a cluster whose summary is reused never decodes its slices, nor
   * serializes anything again to hash it.
   */
  entriesMany?(ids: readonly string[]): Promise<(StoredEntry<T> | undefined)[]>;
  /** Every stored id, in no particular order. */
  ids(): AsyncIterable<string>;
  count(): Promise<number>;
  close(): Promise<void>;
}

/** A stored document: its bytes (the same document always stores as the same bytes), and the document they hold. */
export interface StoredEntry<T> {
  bytes: Buffer;
  /** Decoded on the first call, then the same object; throws, naming the entry, when it is corrupt. */
  document(): T;
  /**
   * The document without its long strings (a record's code, a slice's code: empty here), its small
   * fields as stored: what a reader needs of its origin or its CWE. Not checked against its id's
   * content hash, which covers the code (document() checks it); throws as document() does when
   * the bytes do not decode.
   */
  head(): T;
}

export const RECORD_ID_PATTERN = /^[0-9a-f]{32}$/;

export function assertRecordId(id: string): void {
  if (!RECORD_ID_PATTERN.test(id)) throw new RecordStoreError(`not a record id: ${JSON.stringify(id.slice(0, 40))}`, { kind: 'invalid-input' });
}

/** What is wrong with a stored document: where it is and why it cannot be used. */
export interface CorruptEntry {
  id: string;
  where: string;
  problem: string;
}

/**
 * The id a stored document's content hashes to, when its kind has one: a fix record's id is the
 * hash of its language, CWE and code ({@link fixRecordId}), so a record whose code was damaged on
 * disk no longer matches its id. Slices and other derived documents have no such hash (their id
 * names their input), so only their JSON and their id are checked.
 */
export function contentIdOf(doc: unknown): string | undefined {
  if (typeof doc !== 'object' || doc === null) return undefined;
  const r = doc as Partial<FixRecord>;
  if (typeof r.language !== 'string' || typeof r.cwe !== 'string' || typeof r.before !== 'string' || typeof r.after !== 'string') return undefined;
  return fixRecordId(r.language as Language, r.cwe as CweId, r.before, r.after);
}

/**
 * Reads a stored document back and checks it: JSON that parses to an object, the id it was stored
 * under, and (for a fix record) content that still hashes to that id. A truncated write, a hand
 * edit or a damaged disk block each show up here, named, instead of as a raw JSON error later.
 */
export function checkStoredDocument<T>(payload: string | Buffer, id: string, where: string): { ok: true; doc: T } | { ok: false; corrupt: CorruptEntry } {
  return checkDecoded<T>(payload, id, where, decodeStoredPayload);
}

/**
 * {@link checkStoredDocument}'s verdict alone, for a reader that drops the document (whether an
 * entry is sound: `has`, a put's look at the entry it may supersede, `check`). Its long strings
 * are decoded only when its content hash covers them (a fix record's code, moved out of its JSON
 * line); a slice's are checked for their place in the payload, not decoded: a rebuild looked at
 * every stored slice that way, and decoded 3 MB of code only to drop it.
 */
export function storedDocumentVerdict(payload: Buffer, id: string, where: string): true | CorruptEntry {
  const head = checkDecoded<Record<string, unknown>>(payload, id, where, decodeStoredHead);
  if (!head.ok) return head.corrupt;
  // The strings contentIdOf hashes, when moved out of the JSON line, are 0 in the head: read them.
  if (head.doc.before !== 0 && head.doc.after !== 0) return true;
  const whole = checkStoredDocument(payload, id, where);
  return whole.ok ? true : whole.corrupt;
}

function checkDecoded<T>(payload: string | Buffer, id: string, where: string, decode: (payload: string | Buffer) => unknown): { ok: true; doc: T } | { ok: false; corrupt: CorruptEntry } {
  const bad = (problem: string): { ok: false; corrupt: CorruptEntry } => ({ ok: false, corrupt: { id, where, problem } });
  let doc: unknown;
  try {
    // Plain JSON, or the folder store's split form of it (see stored-payload.ts).
    doc = decode(payload);
  } catch (err) {
    return bad(`is not valid JSON, truncated or damaged (${(err as Error).message})`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return bad('is not a JSON object');
  const stored = (doc as { id?: unknown }).id;
  if (stored !== id) return bad(`holds id ${JSON.stringify(stored)}, not the id ${id} it is stored under`);
  const content = contentIdOf(doc);
  if (content !== undefined && content !== id) return bad(`content does not hash to its id (it hashes to ${content}): the code, language or CWE was altered`);
  return { ok: true, doc: doc as T };
}

/** How a corrupt entry is reported: where, what is wrong, and what repairs it. */
export function describeCorrupt(c: CorruptEntry): string {
  // Not "delete the file": in the folder store a segment holds many documents, and a later sound entry supersedes a bad one.
  return `stored document ${c.id} in ${c.where} ${c.problem}; re-ingest its source ("rescue kb ingest" or "rescue kb build" write a sound entry over a corrupt one)`;
}

/** A stored document read back; a corrupt one is named by id, place and fault, and is not retried. */
export function parseStoredDocument<T>(payload: string | Buffer, id: string, where: string): T {
  const checked = checkStoredDocument<T>(payload, id, where);
  if (!checked.ok) throw new RecordStoreError(describeCorrupt(checked.corrupt), { kind: 'invalid-input' });
  return checked.doc;
}
