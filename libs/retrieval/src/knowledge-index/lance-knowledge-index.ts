import { join } from 'node:path';
import type * as lancedb from '@lancedb/lancedb';
// The one module, not the library: its settings' zod schemas cost a tenth of a `rescue retrieve`.
import { quietLanceDbNotices } from '@rescue/config/native-logging';
import { InvalidInputError } from '@rescue/domain';
import type { Hit, IndexedDocument, IndexedExample, IndexedKnowledge, IndexedNode, KnowledgeIndexReader, SearchCollection, SearchFilter, TextField, TextHit } from './knowledge-index';
import type { RowSource } from './memory-search';
import { arrowTable } from './arrow-rows';

/**
 * LanceDB (and its Arrow), loaded on first use: a tenth of a second that commands not reading a KB
 * never need. Every use in the project loads it through here, so its native notices are kept off
 * stderr in every process (see quietLanceDbNotices).
 */
export function lanceDb(): typeof import('@lancedb/lancedb') {
  quietLanceDbNotices();
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('@lancedb/lancedb') as typeof import('@lancedb/lancedb');
}

const TABLES: Record<SearchCollection, string> = { nodes: 'cwe_nodes', examples: 'code_examples', documents: 'documents' };

const quote = (s: string): string => `'${s.replace(/'/g, "''")}'`;

/** The filter as a LanceDB `where` clause over the columns every collection shares. */
function where(filter: SearchFilter | undefined, collection: SearchCollection): string | undefined {
  const parts: string[] = [];
  if (filter?.language) parts.push(collection === 'nodes' ? `(language = ${quote(filter.language)} OR language = '')` : `language = ${quote(filter.language)}`);
  if (filter?.neutral) parts.push(`language = ''`);
  if (filter?.kind) parts.push(`kind = ${quote(filter.kind)}`);
  if (filter?.cwe) parts.push(`cwe = ${quote(filter.cwe)}`);
  if (filter?.cwes) parts.push(filter.cwes.length === 0 ? 'false' : `cwe IN (${filter.cwes.map(quote).join(', ')})`);
  if (filter?.nodeIds) parts.push(filter.nodeIds.length === 0 ? 'false' : `node_id IN (${filter.nodeIds.map(quote).join(', ')})`);
  return parts.length > 0 ? parts.join(' AND ') : undefined;
}

/**
 * Rows per table shard, and the text a shard may hold. LanceDB 0.31's full-text index build never
 * settles (no error, the promise just stays pending) once one index covers roughly 40-90k
 * documents / 60-90 MB of text on this machine (measured: 37.5k examples with 65 MB indexed in
 * 2 s, 50k with 87 MB hung; 78k nodes with 54 MB fine, 87k with 61 MB hung). Newer LanceDB
 * releases cannot be installed from our registry (dependencies.md), so big tables are split into
 * shards well under that size, each with its own indexes, and searched together, the way a
 * search cluster shards an index: BM25 statistics are per shard, which with shards filled in
 * order from the same data moves scores only slightly; vector scores are exact. The budget is
 * half of what still indexes safely because a shard's index build is the build's memory peak:
 * a 100x build (134k records, with the README's two memory settings) peaked at 888 and 897 MB with
 * these budgets, 1,017-1,024 MB with twice them.
 */
export const SHARD_MAX_ROWS = 10_000;
export const SHARD_MAX_TEXT_BYTES = 12 << 20;

/** Splits rows into consecutive shards under the row and text budgets (at least one shard). */
export function shardRows<T>(rows: T[], textBytes: (row: T) => number, maxRows = SHARD_MAX_ROWS, maxBytes = SHARD_MAX_TEXT_BYTES): T[][] {
  const shards: T[][] = [[]];
  let bytes = 0;
  for (const row of rows) {
    const size = textBytes(row);
    const current = shards[shards.length - 1];
    if (current.length > 0 && (current.length >= maxRows || bytes + size > maxBytes)) {
      shards.push([row]);
      bytes = size;
    } else {
      current.push(row);
      bytes += size;
    }
  }
  return shards;
}

const shardName = (base: string, i: number): string => (i === 0 ? base : `${base}__${i + 1}`);
const isShardOf = (base: string, name: string): boolean => name === base || new RegExp(`^${base}__\\d+$`).test(name);

/** The best `k` of several shards' hits. */
const mergeHits = <T extends Hit>(lists: T[][], k: number): T[] =>
  lists
    .flat()
    .sort((a, b) => b.score - a.score)
    .slice(0, k);

/**
 * Text columns hold search terms (see `searchTerms`), already lowercased, split, stemmed and
 * stop-word free, so the index only splits on whitespace: LanceDB's own analyzer would split
 * identifiers differently from the query side and from Elasticsearch.
 */
const TERMS_INDEX = (): lancedb.Index =>
  lanceDb().Index.fts({ baseTokenizer: 'whitespace', lowercase: false, stem: false, removeStopWords: false, asciiFolding: false, withPosition: false, maxTokenLength: 64 });

/** How one collection's items become table rows: their text size (for sharding), the row, and its indexes. */
interface TableSpec<T> {
  textBytes: (item: T) => number;
  /** The row: its text columns in the table's order, then its vector (as the item holds it), if any. */
  toRow: (item: T) => Record<string, unknown>;
  indexes: { fts: string[]; bitmap: string[] };
  /** Each full-text column's value alone, as `toRow` gives it (without reading the item's other texts). */
  texts: Record<string, (item: T) => string>;
}

/**
 * Items as the Arrow table LanceDB is given (see arrowTable): the columns are the rows' own, in
 * `toRow`'s order, a typed array being the vector column (of the first row's dimensions).
 */
function tableOf<T>(spec: TableSpec<T>, items: T[]): ReturnType<typeof arrowTable> {
  const rows = items.map(spec.toRow);
  const first = Object.entries(rows[0] ?? {});
  const vector = first.find(([, v]) => ArrayBuffer.isView(v)) as [string, Float32Array] | undefined;
  const text = first.filter(([, v]) => !ArrayBuffer.isView(v)).map(([name]) => name);
  return arrowTable(rows, { text, ...(vector ? { vector: { name: vector[0], dims: vector[1].length } } : {}) });
}

/**
 * Rows handed to LanceDB in one call, at most: a shard's rows (up to 20,000, 24 MB of text) are
 * added a batch at a time. Each call turns its rows into an Arrow table and then one IPC buffer,
 * beside the rows (a vector as 256 numbers of 8 bytes), so a whole shard at once held several
 * copies of it (at 30× the shared data the index stage peaked there, with about 250 MB of array
 * buffers). Above what the shared data at 1× puts in a table, so those tables are written in one
 * call, as before. The rows end up the same, in the same order (a table of several fragments).
 */
export const WRITE_BATCH_ROWS = 5_000;

/** Writes rows as one table per shard, each with the same full-text and bitmap indexes when `indexed`. */
async function writeSharded<T>(
  db: lancedb.Connection,
  base: string,
  items: T[],
  spec: TableSpec<T>,
  budget: { maxRows: number; maxBytes: number; batchRows?: number },
  indexed: boolean,
): Promise<void> {
  const batch = Math.max(1, budget.batchRows ?? WRITE_BATCH_ROWS);
  for (const [i, shard] of shardRows(items, spec.textBytes, budget.maxRows, budget.maxBytes).entries()) {
    const table = await db.createTable(shardName(base, i), tableOf(spec, shard.slice(0, batch)), { mode: 'overwrite' });
    for (let at = batch; at < shard.length; at += batch) await table.add(tableOf(spec, shard.slice(at, at + batch)));
    if (indexed) {
      for (const column of spec.indexes.fts) await table.createIndex(column, { config: TERMS_INDEX() });
      for (const column of spec.indexes.bitmap) await table.createIndex(column, { config: lanceDb().Index.bitmap() });
    }
    // Let go of the shard's native memory (its dataset and index caches) now rather than when the
    // garbage collector, which does not see that memory, gets to the table object (a 100× build
    // peaked at 1,068 MB before, one run, and at 1,017 and 1,024 MB after, two runs).
    table.close();
  }
}

const bytes = (...texts: string[]): number => texts.reduce((n, t) => n + Buffer.byteLength(t), 0);
// LanceDB cannot index an empty string column value; one space matches nothing.
const text = (s: string | undefined): string => (s && s.length > 0 ? s : ' ');

const SPECS: { nodes: TableSpec<IndexedNode>; examples: TableSpec<IndexedExample>; documents: TableSpec<IndexedDocument> } = {
  nodes: {
    textBytes: (n) => bytes(n.text, n.apiText, n.docTerms ?? '', n.catalogTerms ?? ''),
    toRow: (n) => ({
      id: n.id,
      cwe: n.cwe,
      language: n.language,
      text: text(n.text),
      api_text: text(n.apiText),
      doc_terms: text(n.docTerms),
      catalog_terms: text(n.catalogTerms),
      vector: n.causeVector,
    }),
    indexes: { fts: ['text', 'api_text', 'doc_terms', 'catalog_terms'], bitmap: ['language'] },
    texts: { text: (n) => text(n.text), api_text: (n) => text(n.apiText), doc_terms: (n) => text(n.docTerms), catalog_terms: (n) => text(n.catalogTerms) },
  },
  examples: {
    textBytes: (e) => bytes(e.apiText, e.codeText ?? ''),
    toRow: (e) => ({ id: e.id, node_id: e.nodeId, cwe: e.cwe, language: e.language, kind: e.kind ?? 'fix', api_text: text(e.apiText), code_text: text(e.codeText), vector: e.codeVector }),
    indexes: { fts: ['api_text', 'code_text'], bitmap: ['node_id', 'language', 'cwe', 'kind'] },
    texts: { api_text: (e) => text(e.apiText), code_text: (e) => text(e.codeText) },
  },
  documents: {
    textBytes: (d) => bytes(d.terms),
    toRow: (d) => ({ id: d.id, kind: d.kind, cwes: d.cwes.join(' '), language: d.language ?? '', terms: text(d.terms) }),
    indexes: { fts: ['terms'], bitmap: ['kind'] },
    texts: { terms: (d) => text(d.terms) },
  },
};

/**
 * The rows {@link LanceKnowledgeIndex.write} stores for these items, in the order a scan of the
 * opened index returns them (its shards by table name, as LanceDB lists them: `__10` before
 * `__2`), served from memory: what lets a publish build the in-memory search index without reading
 * back the tables it just wrote, and get exactly the index an open of them would.
 */
export class WrittenRows implements RowSource {
  constructor(
    private readonly knowledge: IndexedKnowledge,
    private readonly shardBudget = { maxRows: SHARD_MAX_ROWS, maxBytes: SHARD_MAX_TEXT_BYTES },
  ) {}

  async counts(): Promise<Record<SearchCollection, number>> {
    return { nodes: this.knowledge.nodes.length, examples: this.knowledge.examples.length, documents: this.knowledge.documents.length };
  }

  async scan(collection: SearchCollection, fields: string[]): Promise<Record<string, unknown>[]> {
    const spec = SPECS[collection] as TableSpec<unknown>;
    return this.scanOrder(collection).map((item) => {
      const row = spec.toRow(item);
      return Object.fromEntries(fields.filter((f) => f in row).map((f) => [f, row[f]]));
    });
  }

  /** A full-text column's values in {@link scan}'s order, each read from its item when asked (see RowSource.textColumn). */
  async textColumn(collection: SearchCollection, field: TextField): Promise<(row: number) => unknown> {
    const spec = SPECS[collection] as TableSpec<unknown>;
    const value = spec.texts[field];
    if (!value) throw new InvalidInputError(`${collection} rows have no full-text column ${field}`);
    const items = this.scanOrder(collection);
    return (row) => value(items[row]);
  }

  private readonly ordered = new Map<SearchCollection, unknown[]>();

  /**
   * The items in the order an opened index's scan returns their rows (its shards by table name),
   * worked out once per collection: a snapshot asks for it once a field and again for the rows and
   * vectors, and sharding measures every text's UTF-8 bytes.
   */
  private scanOrder(collection: SearchCollection): unknown[] {
    const known = this.ordered.get(collection);
    if (known) return known;
    const items: unknown[] = this.knowledge[collection];
    const spec = SPECS[collection] as TableSpec<unknown>;
    const shards = shardRows(items, spec.textBytes, this.shardBudget.maxRows, this.shardBudget.maxBytes).map((rows, i) => ({ name: shardName(TABLES[collection], i), rows }));
    shards.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const order = shards.flatMap(({ rows }) => rows);
    this.ordered.set(collection, order);
    return order;
  }
}

/**
 * The embedded knowledge index: three LanceDB tables in a KB version's folder (each split into
 * shards when large) — CWE nodes, code examples, documents — with full-text (BM25) indexes on
 * their term columns, cosine vector search on nodes and examples, and bitmap indexes on the
 * columns searches filter by.
 */
export class LanceKnowledgeIndex implements KnowledgeIndexReader {
  private constructor(private readonly tables: Record<SearchCollection, lancedb.Table[]>) {}

  /**
   * Writes the tables under `<versionDir>/lance` (overwriting: a version folder is written once).
   * `unindexedUpTo`: a collection of at most that many rows is written without its full-text and
   * bitmap indexes (a publish passes MEMORY_SEARCH_MAX_ROWS: such a collection is searched from
   * the version's in-memory index, built from its rows, and LanceDB's indexes on it would never
   * be queried); by default every collection is indexed.
   */
  static async write(
    versionDir: string,
    nodes: IndexedNode[],
    examples: IndexedExample[],
    documents: IndexedDocument[] = [],
    shardBudget: { maxRows: number; maxBytes: number; batchRows?: number } = { maxRows: SHARD_MAX_ROWS, maxBytes: SHARD_MAX_TEXT_BYTES },
    unindexedUpTo = -1,
  ): Promise<void> {
    const db = await lanceDb().connect(join(versionDir, 'lance'));
    const indexed = (rows: number): boolean => rows > unindexedUpTo;
    try {
      await writeSharded(db, TABLES.nodes, nodes, SPECS.nodes, shardBudget, indexed(nodes.length));
      if (examples.length > 0) await writeSharded(db, TABLES.examples, examples, SPECS.examples, shardBudget, indexed(examples.length));
      if (documents.length > 0) await writeSharded(db, TABLES.documents, documents, SPECS.documents, shardBudget, indexed(documents.length));
    } finally {
      db.close();
    }
  }

  static async open(versionDir: string): Promise<LanceKnowledgeIndex> {
    const db = await lanceDb().connect(join(versionDir, 'lance'));
    const names = await db.tableNames();
    const openAll = (base: string): Promise<lancedb.Table[]> => Promise.all(names.filter((n) => isShardOf(base, n)).map((n) => db.openTable(n)));
    const nodes = await openAll(TABLES.nodes);
    if (nodes.length === 0) throw new InvalidInputError(`no ${TABLES.nodes} table in ${join(versionDir, 'lance')}; rebuild the KB version`);
    return new LanceKnowledgeIndex({ nodes, examples: await openAll(TABLES.examples), documents: await openAll(TABLES.documents) });
  }

  async searchText(collection: SearchCollection, field: TextField, query: string, k: number, filter?: SearchFilter): Promise<TextHit[]> {
    const q = query.replace(/[^\p{L}\p{N}_\s]/gu, ' ').trim();
    const tables = this.tables[collection];
    if (!q || tables.length === 0) return [];
    const clause = where(filter, collection);
    const columns = collection === 'nodes' ? ['id', 'cwe', 'language'] : collection === 'examples' ? ['id', 'cwe', 'language', 'node_id'] : ['id', 'cwes', 'language'];
    const lists = await Promise.all(
      tables.map(async (table) => {
        let builder = table
          .query()
          .fullTextSearch(q, { columns: field })
          .select([...columns, '_score'])
          .limit(k);
        if (clause) builder = builder.where(clause);
        const rows = (await builder.toArray()) as Record<string, unknown>[];
        return rows.map((r) => toTextHit(r));
      }),
    );
    return mergeHits(lists, k);
  }

  async searchVector(collection: 'nodes' | 'examples', vector: Float32Array, k: number, filter?: SearchFilter): Promise<TextHit[]> {
    const tables = this.tables[collection];
    if (tables.length === 0) return [];
    const clause = where(filter, collection);
    const query = Array.from(vector);
    const lists = await Promise.all(
      tables.map(async (table) => {
        let builder = table
          .vectorSearch(query)
          .distanceType('cosine')
          .select([...(collection === 'nodes' ? ['id', 'cwe', 'language'] : ['id', 'cwe', 'language', 'node_id']), '_distance'])
          .limit(k);
        if (clause) builder = builder.where(clause);
        const rows = (await builder.toArray()) as Record<string, unknown>[];
        // A zero vector (text with no known term) has no cosine; it matches nothing.
        return rows.filter((r) => Number.isFinite(Number(r._distance))).map((r) => ({ ...toTextHit(r), score: 1 - Number(r._distance) }));
      }),
    );
    return mergeHits(lists, k);
  }

  /** Every row of a collection (all shards), with the given columns: what the in-memory searches load. */
  async scan(collection: SearchCollection, fields: string[]): Promise<Record<string, unknown>[]> {
    const lists = await Promise.all(this.tables[collection].map(async (t) => (await t.query().select(fields).toArray()) as Record<string, unknown>[]));
    return lists.flat();
  }

  async counts(): Promise<Record<SearchCollection, number>> {
    const sum = async (tables: lancedb.Table[]): Promise<number> => (await Promise.all(tables.map((t) => t.countRows()))).reduce((a, b) => a + b, 0);
    return { nodes: await sum(this.tables.nodes), examples: await sum(this.tables.examples), documents: await sum(this.tables.documents) };
  }
}

function toTextHit(r: Record<string, unknown>): TextHit {
  const hit: TextHit = { id: String(r.id), score: Number(r._score ?? 0) };
  if (typeof r.cwe === 'string') hit.cwes = [r.cwe];
  if (typeof r.cwes === 'string') hit.cwes = r.cwes.split(' ').filter(Boolean);
  if (typeof r.language === 'string') hit.language = r.language;
  if (typeof r.node_id === 'string') hit.nodeId = r.node_id;
  return hit;
}

/**
 * A version's LanceDB tables opened on first use: the backend of an in-memory index built from a
 * snapshot, which needs the tables only for a collection too large to hold in memory. A retrieval
 * that never needs them never loads LanceDB (a tenth of a second of a cold start).
 */
export class LazyLanceKnowledgeIndex implements KnowledgeIndexReader, RowSource {
  private opened?: Promise<LanceKnowledgeIndex>;

  constructor(readonly versionDir: string) {}

  private index(): Promise<LanceKnowledgeIndex> {
    if (!this.opened) {
      this.opened = LanceKnowledgeIndex.open(this.versionDir);
      // A failed open is tried again by the next search, not remembered.
      this.opened.catch(() => (this.opened = undefined));
    }
    return this.opened;
  }

  async searchText(collection: SearchCollection, field: TextField, query: string, k: number, filter?: SearchFilter): Promise<TextHit[]> {
    return (await this.index()).searchText(collection, field, query, k, filter);
  }

  async searchVector(collection: 'nodes' | 'examples', vector: Float32Array, k: number, filter?: SearchFilter): Promise<TextHit[]> {
    return (await this.index()).searchVector(collection, vector, k, filter);
  }

  async scan(collection: SearchCollection, fields: string[]): Promise<Record<string, unknown>[]> {
    return (await this.index()).scan(collection, fields);
  }

  async counts(): Promise<Record<SearchCollection, number>> {
    return (await this.index()).counts();
  }
}
