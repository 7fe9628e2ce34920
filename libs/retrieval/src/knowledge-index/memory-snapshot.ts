import { open, readFile } from 'node:fs/promises';
import { endianness } from 'node:os';
import { InvalidInputError, NotFoundError } from '@rescue/domain';
import type { SearchCollection, TextField } from './knowledge-index';
import {
  BM25_PARAMS,
  Bm25Index,
  type Bm25Parts,
  type EarlierPostings,
  MEMORY_SEARCH_MAX_ROWS,
  type MemoryRow,
  type PrebuiltMemoryIndex,
  type RowSource,
  TEXT_FIELDS,
  TEXT_HASH_WORDS,
  type TermIds,
  VectorTable,
  textColumnOf,
  textHashes,
  vectorColumnOf,
} from './memory-search';

/**
 * A snapshot of the in-memory search index, written into a KB version folder when it is published
 * (so the version's checksums cover it) and read back with one file read: opening a KB then
 * neither loads LanceDB nor tokenizes every document again, which was most of a cold
 * `rescue retrieve`. It holds exactly what {@link MemoryKnowledgeIndex} would build from the
 * version's tables (the same code builds it, from the same rows in the same order), so searches
 * answer bit for bit the same.
 *
 * Layout: `MAGIC`, then sections (each 8-byte aligned: typed arrays in the machine's byte order,
 * or UTF-8 JSON), then the header (JSON: what each section holds, and where), then the header's
 * offset and length (two float64 LE: exact past 4 GB) and `MAGIC` again. The header comes last so the writer can
 * write one field's index and drop it before building the next.
 */
export const MEMORY_INDEX_FILE = 'memory-index.bin';

const MAGIC = Buffer.from('RSCMIDX\n', 'latin1');
const FORMAT = 'rescue-memory-index';
/**
 * Bumped when what the in-memory index derives from rows changes (postings, norms, idf, vector
 * norms) or how it is laid out: a snapshot of another format version is not used, and the tables
 * are read instead. 2: terms sorted, one a line, with their ids (1 held them as a JSON list).
 */
export const MEMORY_INDEX_FORMAT_VERSION = 2;

type ArrayKind = 'i32' | 'f32' | 'f64';
interface ArraySection {
  kind: ArrayKind;
  offset: number;
  length: number;
}
interface JsonSection {
  kind: 'json';
  offset: number;
  bytes: number;
}
/** UTF-8 text: a BM25 index's terms, sorted, one a line. */
interface TextSection {
  kind: 'lines';
  offset: number;
  bytes: number;
}

interface Bm25Sections {
  /** The terms in sorted order, and the id of each: read back without building a Map of every term. */
  sortedTerms: TextSection;
  sortedIds: ArraySection;
  starts: ArraySection;
  docs: ArraySection;
  tfs: ArraySection;
  docNorm: ArraySection;
  idfs: ArraySection;
  /**
   * Each document's text hash (see textHashes): what lets the next build take unchanged documents'
   * postings from this snapshot. Absent from snapshots written before it, which read as before.
   */
  textHashes?: ArraySection;
}

interface CollectionSections {
  rows: JsonSection;
  text: Partial<Record<TextField, Bm25Sections>>;
  vectors?: { dims: number; data: ArraySection; rowNorms: ArraySection };
}

interface Header {
  format: typeof FORMAT;
  version: number;
  endianness: 'LE' | 'BE';
  bm25: { k1: number; b: number };
  counts: Record<SearchCollection, number>;
  collections: Partial<Record<SearchCollection, CollectionSections>>;
}

/** Rows stored column by column (what a hit carries and filters test); absent values are null. */
interface StoredRows {
  id: string[];
  cwes: string[][];
  language: string[];
  nodeId: (string | null)[];
  kind: (string | null)[];
}

const ELEMENT_BYTES: Record<ArrayKind, number> = { i32: 4, f32: 4, f64: 8 };
const COLLECTIONS: SearchCollection[] = ['nodes', 'examples', 'documents'];

/** A field's postings as a snapshot is written: its terms with their ids, where each term's postings start, and their term frequencies. */
export interface FieldPostings {
  collection: SearchCollection;
  field: TextField;
  /** The field's terms, and `termIds[i]` the id of `terms[i]`. */
  terms: string[];
  termIds: Int32Array;
  /** Term `t`'s postings are `starts[t]` up to `starts[t + 1]`. */
  starts: Int32Array;
  tfs: Float32Array;
}

/**
 * Builds the in-memory index of every collection of `source` small enough to be searched in memory
 * (up to `maxRows` rows), one field at a time, and writes it to `path`. `onField` is shown each
 * field's postings once built (what else a publish derives from them: the KB's term counts).
 * `earlier`: the snapshot of an earlier version, whose unchanged documents' postings are taken
 * rather than their texts tokenized again (the snapshot written is the same either way).
 */
export async function writeMemoryIndexSnapshot(
  path: string,
  source: RowSource,
  maxRows = MEMORY_SEARCH_MAX_ROWS,
  onField?: (postings: FieldPostings) => void,
  earlier?: PrebuiltMemoryIndex,
): Promise<void> {
  const file = await open(path, 'w');
  try {
    // Sections are queued and written a field at a time, in one writev: one write each (two with
    // their padding) was over a hundred round trips to the file system's threads per snapshot.
    let at = 0;
    let pending: Buffer[] = [];
    const queue = (data: Buffer): number => {
      const offset = at;
      pending.push(data);
      at += data.length;
      const pad = (8 - (at % 8)) % 8;
      if (pad > 0) {
        pending.push(Buffer.alloc(pad));
        at += pad;
      }
      return offset;
    };
    const flush = async (): Promise<void> => {
      const parts = pending;
      pending = [];
      if (parts.length > 0) await file.writev(parts);
    };
    const json = (value: unknown): JsonSection => {
      const data = Buffer.from(JSON.stringify(value), 'utf8');
      return { kind: 'json', offset: queue(data), bytes: data.length };
    };
    const array = (kind: ArrayKind, a: Int32Array | Float32Array | Float64Array): ArraySection => ({
      kind,
      offset: queue(Buffer.from(a.buffer, a.byteOffset, a.byteLength)),
      length: a.length,
    });
    queue(MAGIC);
    const counts = await source.counts();
    const header: Header = { format: FORMAT, version: MEMORY_INDEX_FORMAT_VERSION, endianness: endianness(), bm25: { ...BM25_PARAMS }, counts, collections: {} };
    for (const collection of COLLECTIONS) {
      if (counts[collection] > maxRows) continue;
      let rows: MemoryRow[] | undefined;
      const text: CollectionSections['text'] = {};
      for (const field of TEXT_FIELDS[collection]) {
        const column = await textColumnOf(source, collection, field);
        const hashes = textHashes(column.textOf, column.rows.length);
        const before = earlier?.earlierPostings?.(collection, field);
        const index = new Bm25Index(column.rows, column.textOf, undefined, before ? { hashes, earlier: before } : undefined);
        rows ??= index.rows;
        const p = index.parts();
        const { sorted, ids } = sortTerms(p.termIds, before?.sorted);
        onField?.({ collection, field, terms: sorted, termIds: ids, starts: p.starts, tfs: p.tfs });
        const lines = Buffer.from(sorted.join('\n'), 'utf8');
        text[field] = {
          sortedTerms: { kind: 'lines', offset: queue(lines), bytes: lines.length },
          sortedIds: array('i32', ids),
          starts: array('i32', p.starts),
          docs: array('i32', p.docs),
          tfs: array('f32', p.tfs),
          docNorm: array('f64', p.docNorm),
          idfs: array('f64', p.idfs),
          textHashes: array('i32', hashes),
        };
        await flush();
      }
      let vectors: CollectionSections['vectors'];
      // Written chunk by chunk as they are filled (the chunk's buffer is reused).
      if (collection !== 'documents')
        vectors = await writeVectors(source, collection, async (data) => {
          const offset = queue(data);
          await flush();
          return offset;
        });
      const stored: StoredRows = { id: [], cwes: [], language: [], nodeId: [], kind: [] };
      for (const r of rows ?? []) {
        stored.id.push(r.id);
        stored.cwes.push(r.cwes);
        stored.language.push(r.language);
        stored.nodeId.push(r.nodeId ?? null);
        stored.kind.push(r.kind ?? null);
      }
      header.collections[collection] = { rows: json(stored), text, ...(vectors ? { vectors } : {}) };
    }
    const headerData = Buffer.from(JSON.stringify(header), 'utf8');
    const headerOffset = queue(headerData);
    const trailer = Buffer.alloc(16);
    trailer.writeDoubleLE(headerOffset, 0);
    trailer.writeDoubleLE(headerData.length, 8);
    pending.push(trailer, MAGIC);
    await flush();
  } finally {
    await file.close();
  }
}

/** Rows whose vectors are copied into one write of a snapshot's vector data, at most. */
const VECTOR_ROWS_PER_WRITE = 4096;

/**
 * A collection's vectors and their norms as {@link VectorTable} holds them (each row's first `dims`
 * values, `dims` being the first row's length, zeros past a shorter row's end; each norm summed
 * over the float32 values in order), written a few thousand rows at a time: the table itself
 * would be a second copy of every vector (128 MB at 100× our KB) beside the rows that hold them.
 */
async function writeVectors(source: RowSource, collection: 'nodes' | 'examples', put: (data: Buffer) => Promise<number>): Promise<NonNullable<CollectionSections['vectors']>> {
  // One row's vector at a time: a publish's examples read theirs back from a file, and all of
  // them at once (134 MB at 100× our KB) were the top of a 100× build's memory.
  const { count, vectorOf } = await vectorColumnOf(source, collection);
  const dims = count > 0 ? vectorOf(0).length : 0;
  const rowNorms = new Float64Array(count);
  const chunk = new Float32Array(Math.min(count, VECTOR_ROWS_PER_WRITE) * dims);
  let offset = -1;
  for (let start = 0; start < count; start += VECTOR_ROWS_PER_WRITE) {
    const end = Math.min(count, start + VECTOR_ROWS_PER_WRITE);
    chunk.fill(0);
    for (let i = start; i < end; i++) {
      const base = (i - start) * dims;
      chunk.set(vectorOf(i).subarray(0, dims), base);
      let rowNorm = 0;
      for (let j = 0; j < dims; j++) rowNorm += chunk[base + j] * chunk[base + j];
      rowNorms[i] = Math.sqrt(rowNorm);
    }
    const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, (end - start) * dims * 4);
    // Written back to back: only the last write may pad (to 8 bytes), and every write but the
    // last is a multiple of 8 bytes (4,096 rows of 4-byte values).
    const at = await put(bytes);
    if (offset < 0) offset = at;
  }
  // No rows: an empty section where the table's would be.
  if (offset < 0) offset = await put(Buffer.alloc(0));
  return {
    dims,
    data: { kind: 'f32', offset, length: count * dims },
    rowNorms: { kind: 'f64', offset: await put(Buffer.from(rowNorms.buffer, rowNorms.byteOffset, rowNorms.byteLength)), length: rowNorms.length },
  };
}

/**
 * A field's terms sorted (as `<` orders strings), with the id of each. Terms never hold a newline:
 * they are split on whitespace. Given an earlier index's terms, sorted, the terms still used are
 * taken in that order and only the new ones sorted and merged in: a rebuild's fields share nearly
 * all their terms with the earlier version's, and sorting tens of thousands of them was a fifth
 * of its snapshot.
 */
function sortTerms(termIds: TermIds, earlierSorted?: readonly string[]): { sorted: string[]; ids: Int32Array } {
  let sorted: string[];
  let ids: Int32Array;
  if (earlierSorted) {
    // Each earlier term looked up once: its id when still used. The terms not among them are the
    // ids no earlier term took (a Map's lookups were a fifth of a rebuild's snapshot, done twice).
    const keptIds = new Int32Array(termIds.size);
    const taken = new Uint8Array(termIds.size);
    const kept: string[] = [];
    for (const t of earlierSorted) {
      const id = termIds.get(t);
      if (id === undefined) continue;
      keptIds[kept.length] = id;
      kept.push(t);
      taken[id] = 1;
    }
    if (kept.length === termIds.size) {
      sorted = kept;
      ids = keptIds;
    } else {
      const added: { term: string; id: number }[] = [];
      let id = 0;
      for (const term of termIds.keys()) {
        if (taken[id] === 0) added.push({ term, id });
        id += 1;
      }
      added.sort((a, b) => byCodeUnits(a.term, b.term));
      ({ sorted, ids } = mergeSorted(kept, keptIds, added));
    }
  } else {
    // The default sort orders strings as byCodeUnits does, without a comparator call per comparison.
    sorted = [...termIds.keys()].sort();
    ids = Int32Array.from(sorted, (t) => termIds.get(t) as number);
  }
  const withNewline = sorted.find((t) => t.includes('\n'));
  if (withNewline !== undefined) throw new RangeError(`search term ${JSON.stringify(withNewline)} holds a newline; terms are split on whitespace`);
  return { sorted, ids };
}

const byCodeUnits = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** The kept terms (sorted by `<`, with their ids) and the added ones (sorted, none among the kept), as one sorted list with its ids. */
function mergeSorted(kept: readonly string[], keptIds: Int32Array, added: readonly { term: string; id: number }[]): { sorted: string[]; ids: Int32Array } {
  const sorted: string[] = new Array<string>(kept.length + added.length);
  const ids = new Int32Array(sorted.length);
  let i = 0;
  let j = 0;
  let k = 0;
  while (i < kept.length && j < added.length) {
    if (kept[i] < added[j].term) {
      ids[k] = keptIds[i];
      sorted[k++] = kept[i++];
    } else {
      ids[k] = added[j].id;
      sorted[k++] = added[j++].term;
    }
  }
  for (; i < kept.length; i++, k++) {
    ids[k] = keptIds[i];
    sorted[k] = kept[i];
  }
  for (; j < added.length; j++, k++) {
    ids[k] = added[j].id;
    sorted[k] = added[j].term;
  }
  return { sorted, ids };
}

/**
 * Term ids found by binary search over the sorted terms: a query looks up a few dozen terms, and
 * a Map of every term (tens of thousands a field) cost more to build at open than all the lookups.
 */
class SortedTerms implements TermIds {
  constructor(
    private readonly sorted: string[],
    private readonly ids: Int32Array,
  ) {}

  get size(): number {
    return this.sorted.length;
  }

  /** The terms, sorted. */
  get inOrder(): readonly string[] {
    return this.sorted;
  }

  get(term: string): number | undefined {
    let lo = 0;
    let hi = this.sorted.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const t = this.sorted[mid];
      if (t === term) return this.ids[mid];
      if (t < term) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }

  keys(): string[] {
    const byId: string[] = new Array<string>(this.sorted.length);
    for (let i = 0; i < this.sorted.length; i++) byId[this.ids[i]] = this.sorted[i];
    return byId;
  }
}

/** A snapshot that cannot be read as one: truncated, altered, or not a snapshot at all. Named by its file. */
export class MemoryIndexSnapshotError extends InvalidInputError {
  constructor(
    readonly file: string,
    problem: string,
  ) {
    super(`${file} ${problem}: the KB version is damaged; check it with "rescue kb verify" and rebuild it with "rescue kb build"`);
  }
}

/**
 * Reads a snapshot written by {@link writeMemoryIndexSnapshot}. Undefined when it was written for
 * another format version, BM25 parameters or byte order (its indexes would not be the ones this
 * code builds: the tables are read instead); throws {@link MemoryIndexSnapshotError} when the file
 * is damaged, and NotFoundError when it is not there.
 */
export async function readMemoryIndexSnapshot(path: string): Promise<PrebuiltMemoryIndex | undefined> {
  let file: Buffer;
  try {
    file = await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(`${path} is missing`, { cause: err });
    throw err;
  }
  return memoryIndexSnapshotOf(file, path);
}

/** {@link readMemoryIndexSnapshot} of a snapshot's bytes already read (from `path`, which errors name). */
export function memoryIndexSnapshotOf(file: Buffer, path: string): PrebuiltMemoryIndex | undefined {
  // Typed arrays are views on the file's bytes, which need the buffer aligned to 8 (a large read
  // is its own ArrayBuffer, so this copy is for small files from Node's shared pool).
  if (file.byteOffset % 8 !== 0) file = Buffer.from(new Uint8Array(file));
  const bad = (problem: string): MemoryIndexSnapshotError => new MemoryIndexSnapshotError(path, problem);
  const tail = file.length - MAGIC.length;
  if (file.length < 2 * MAGIC.length + 16 || !file.subarray(0, MAGIC.length).equals(MAGIC) || !file.subarray(tail).equals(MAGIC))
    throw bad(`is not a memory index snapshot, or is truncated (${file.length} bytes)`);
  const headerOffset = file.readDoubleLE(tail - 16);
  const headerBytes = file.readDoubleLE(tail - 8);
  if (!(Number.isSafeInteger(headerOffset) && Number.isSafeInteger(headerBytes) && headerOffset >= 0 && headerBytes >= 0 && headerOffset + headerBytes <= tail - 16))
    throw bad(`names a header at bytes ${headerOffset}+${headerBytes}, past its end`);
  let header: Header;
  try {
    header = JSON.parse(file.toString('utf8', headerOffset, headerOffset + headerBytes)) as Header;
  } catch (err) {
    throw bad(`has a header that is not JSON (${(err as Error).message})`);
  }
  if (header.format !== FORMAT || typeof header.counts !== 'object' || typeof header.collections !== 'object') throw bad('has a header that does not describe a memory index');
  if (header.version !== MEMORY_INDEX_FORMAT_VERSION || header.endianness !== endianness() || header.bm25?.k1 !== BM25_PARAMS.k1 || header.bm25?.b !== BM25_PARAMS.b) return undefined;

  const dataEnd = headerOffset;
  const json = <T>(s: JsonSection, what: string): T => {
    if (s?.kind !== 'json' || !(s.offset >= 0 && s.offset + s.bytes <= dataEnd)) throw bad(`has ${what} outside its data`);
    try {
      return JSON.parse(file.toString('utf8', s.offset, s.offset + s.bytes)) as T;
    } catch (err) {
      throw bad(`has ${what} that is not JSON (${(err as Error).message})`);
    }
  };
  function array(s: ArraySection, kind: 'i32', length: number, what: string): Int32Array;
  function array(s: ArraySection, kind: 'f32', length: number, what: string): Float32Array;
  function array(s: ArraySection, kind: 'f64', length: number, what: string): Float64Array;
  function array(s: ArraySection, kind: ArrayKind, length: number, what: string): Int32Array | Float32Array | Float64Array {
    if (s?.kind !== kind || s.length !== length) throw bad(`has ${what} of ${s?.length} ${s?.kind} values, expected ${length} ${kind}`);
    const bytes = length * ELEMENT_BYTES[kind];
    if (!(s.offset >= 0 && s.offset % 8 === 0 && s.offset + bytes <= dataEnd)) throw bad(`has ${what} outside its data`);
    const start = file.byteOffset + s.offset;
    return kind === 'i32' ? new Int32Array(file.buffer, start, length) : kind === 'f32' ? new Float32Array(file.buffer, start, length) : new Float64Array(file.buffer, start, length);
  }

  /** A field's terms: sorted, each once, and their ids each id once. */
  const sortedTerms = (t: Bm25Sections, what: string): SortedTerms => {
    const s = t.sortedTerms;
    if (s?.kind !== 'lines' || !(s.offset >= 0 && s.offset + s.bytes <= dataEnd)) throw bad(`has ${what} terms outside its data`);
    const sorted = s.bytes === 0 ? [] : file.toString('utf8', s.offset, s.offset + s.bytes).split('\n');
    const ids = array(t.sortedIds, 'i32', sorted.length, `${what} term ids`);
    const seen = new Uint8Array(sorted.length);
    for (let i = 0; i < sorted.length; i++) {
      if (i > 0 && !(sorted[i - 1] < sorted[i])) throw bad(`has ${what} terms out of order or repeated (${JSON.stringify(sorted[i])})`);
      const id = ids[i];
      if (!(id >= 0 && id < sorted.length) || seen[id] === 1) throw bad(`has ${what} term ids that are not each term's own`);
      seen[id] = 1;
    }
    return new SortedTerms(sorted, ids);
  };

  // Rows and indexes are decoded on first use: a query may search only some fields.
  const rowsOf = new Map<SearchCollection, MemoryRow[]>();
  const rows = (collection: SearchCollection, sections: CollectionSections): MemoryRow[] => {
    let found = rowsOf.get(collection);
    if (!found) {
      const s = json<StoredRows>(sections.rows, `${collection} rows`);
      const n = header.counts[collection];
      if (![s.id, s.cwes, s.language, s.nodeId, s.kind].every((column) => Array.isArray(column) && column.length === n)) throw bad(`has ${collection} rows that are not ${n} rows`);
      found = s.id.map((id, i) => ({
        id,
        cwes: s.cwes[i],
        language: s.language[i],
        ...(s.nodeId[i] !== null ? { nodeId: s.nodeId[i] as string } : {}),
        ...(s.kind[i] !== null ? { kind: s.kind[i] as string } : {}),
      }));
      rowsOf.set(collection, found);
    }
    return found;
  };

  return {
    counts: header.counts,
    text(collection, field) {
      const sections = header.collections[collection];
      const t = sections?.text?.[field];
      if (!sections || !t) return undefined;
      const what = `${collection} ${field}`;
      const r = rows(collection, sections);
      const termIds = sortedTerms(t, what);
      const starts = array(t.starts, 'i32', termIds.size + 1, `${what} postings starts`);
      const postings = starts[termIds.size];
      const parts: Bm25Parts = {
        termIds,
        starts,
        docs: array(t.docs, 'i32', postings, `${what} postings`),
        tfs: array(t.tfs, 'f32', postings, `${what} term frequencies`),
        docNorm: array(t.docNorm, 'f64', r.length, `${what} document norms`),
        idfs: array(t.idfs, 'f64', termIds.size, `${what} idfs`),
      };
      return new Bm25Index(r, parts);
    },
    earlierPostings(collection, field): EarlierPostings | undefined {
      const sections = header.collections[collection];
      const t = sections?.text?.[field];
      if (!sections || !t?.textHashes) return undefined;
      const r = rows(collection, sections);
      const parts = (this.text(collection, field) as Bm25Index).parts();
      return {
        ids: r.map((row) => row.id),
        hashes: array(t.textHashes, 'i32', r.length * TEXT_HASH_WORDS, `${collection} ${field} text hashes`),
        parts,
        sorted: (parts.termIds as SortedTerms).inOrder,
      };
    },
    vectors(collection) {
      const sections = header.collections[collection];
      const v = sections?.vectors;
      if (!sections || !v) return undefined;
      const r = rows(collection, sections);
      return new VectorTable(r, { data: array(v.data, 'f32', r.length * v.dims, `${collection} vectors`), rowNorms: array(v.rowNorms, 'f64', r.length, `${collection} vector norms`) }, v.dims);
    },
  };
}
