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

/** How one collection's items become table rows: their text size (for sharding), the row's columns, and its indexes. */
interface TableSpec<T> {
  textBytes: (item: T) => number;
  /**
   * Each column's value, in the table's order: its text columns, then its vector (as the item
   * holds it), if any. One column is read without the item's others: a big publish's examples
   * read their terms and vectors back from files (see SpilledTexts, SpilledVectors).
   */
  columns: Record<string, (item: T) => unknown>;
  indexes: { fts: string[]; bitmap: string[] };
}

/** An item's row: every column of its table. */
const rowOf = <T>(spec: TableSpec<T>, item: T): Record<string, unknown> => Object.fromEntries(Object.entries(spec.columns).map(([name, value]) => [name, value(item)]));

/**
 * Items as the Arrow table LanceDB is given (see arrowTable): the columns are the rows' own, in
 * the spec's order, a typed array being the vector column (of the first row's dimensions).
 */
function tableOf<T>(spec: TableSpec<T>, items: T[]): ReturnType<typeof arrowTable> {
  const rows = items.map((item) => rowOf(spec, item));
  const first = Object.entries(rows[0] ?? {});
  const vector = first.find(([, v]) => ArrayBuffer.isView(v)) as [string, Float32Array] | undefined;
  const text = first.filter(([, v]) => !ArrayBuffer.isView(v)).map(([name]) => name);
  return arrowTable(rows, { text, ...(vector ? { vector: { name: vector[0], dims: vector[1].length } } : {}) });
}

/**
 * What LanceDB is handed in one call, at most: a shard's rows (up to 10,000, 12 MB of text) are
 * added a batch at a time, each batch at most this many rows and this much text. Each call turns
 * its rows into an Arrow table and then one IPC buffer, which LanceDB's threads decode and encode
 * again, and what they allocate for it stays in their malloc arenas once freed: the more a call
 * carries, the more native memory a write leaves behind. Writing a 100× build's tables (134k
 * examples, about 3,100 of them and 12 MB of text to a shard) from rows in memory raised the
 * resident memory by 298–332 MB in batches of 5,000 rows (a shard a call), 200–230 MB of 1,000
 * rows, and by 207–215, 155–157 and 133–139 MB in batches of 4, 2 and 1 MB of text, in the same
 * time (two runs each, load 1). The rows end up the same, in the same order, in a table of
 * several fragments (a shard of 12 MB of text has about a dozen). A collection of at most
 * WRITE_BATCH_ROWS rows is written in one call whatever its text (a KB's ~1,000 nodes: about 8 MB).
 */
export const WRITE_BATCH_ROWS = 5_000;
export const WRITE_BATCH_TEXT_BYTES = 1 << 20;

/** Writes rows as one table per shard, each with the same full-text and bitmap indexes when `indexed`. */
async function writeSharded<T>(
  db: lancedb.Connection,
  base: string,
  items: T[],
  spec: TableSpec<T>,
  budget: { maxRows: number; maxBytes: number; batchRows?: number; batchBytes?: number },
  indexed: boolean,
): Promise<void> {
  // Each row's text measured once, for the shards and their batches alike (a big publish reads an
  // example's terms back from a file each time they are asked for).
  const sizes = items.map(spec.textBytes);
  const sizeOf = (i: number): number => sizes[i];
  const positions = items.map((_, i) => i);
  const batchRows = Math.max(1, budget.batchRows ?? WRITE_BATCH_ROWS);
  const batchBytes = budget.batchBytes ?? WRITE_BATCH_TEXT_BYTES;
  for (const [i, shard] of shardRows(positions, sizeOf, budget.maxRows, budget.maxBytes).entries()) {
    // A collection of up to `batchRows` rows (each of the shared data's at 1×, and the nodes at any
    // scale) goes in one call, as its few megabytes leave little behind, and each call more is a
    // commit of its own.
    const batches = items.length <= batchRows ? [shard] : shardRows(shard, sizeOf, batchRows, batchBytes);
    const [first, ...rest] = batches.map((batch) => batch.map((at) => items[at]));
    const table = await db.createTable(shardName(base, i), tableOf(spec, first), { mode: 'overwrite' });
    for (const batch of rest) await table.add(tableOf(spec, batch));
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
    columns: {
      id: (n) => n.id,
      cwe: (n) => n.cwe,
      language: (n) => n.language,
      text: (n) => text(n.text),
      api_text: (n) => text(n.apiText),
      doc_terms: (n) => text(n.docTerms),
      catalog_terms: (n) => text(n.catalogTerms),
      vector: (n) => n.causeVector,
    },
    indexes: { fts: ['text', 'api_text', 'doc_terms', 'catalog_terms'], bitmap: ['language'] },
  },
  examples: {
    textBytes: (e) => bytes(e.apiText, e.codeText ?? ''),
    columns: {
      id: (e) => e.id,
      node_id: (e) => e.nodeId,
      cwe: (e) => e.cwe,
      language: (e) => e.language,
      kind: (e) => e.kind ?? 'fix',
      api_text: (e) => text(e.apiText),
      code_text: (e) => text(e.codeText),
      vector: (e) => e.codeVector,
    },
    indexes: { fts: ['api_text', 'code_text'], bitmap: ['node_id', 'language', 'cwe', 'kind'] },
  },
  documents: {
    textBytes: (d) => bytes(d.terms),
    columns: { id: (d) => d.id, kind: (d) => d.kind, cwes: (d) => d.cwes.join(' '), language: (d) => d.language ?? '', terms: (d) => text(d.terms) },
    indexes: { fts: ['terms'], bitmap: ['kind'] },
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

  /** The fields asked for of every row, each read from its item (a row's other columns are not read). */
  async scan(collection: SearchCollection, fields: string[]): Promise<Record<string, unknown>[]> {
    const columns = Object.entries((SPECS[collection] as TableSpec<unknown>).columns).filter(([name]) => fields.includes(name));
    return this.scanOrder(collection).map((item) => Object.fromEntries(columns.map(([name, value]) => [name, value(item)])));
  }

  /** A full-text column's values in {@link scan}'s order, each read from its item when asked (see RowSource.textColumn). */
  async textColumn(collection: SearchCollection, field: TextField): Promise<(row: number) => unknown> {
    const spec = SPECS[collection] as TableSpec<unknown>;
    if (!spec.indexes.fts.includes(field)) throw new InvalidInputError(`${collection} rows have no full-text column ${field}`);
    return this.column(collection, field);
  }

  /** The vectors in {@link scan}'s order, each read from its item when asked (see RowSource.vectorColumn). */
  async vectorColumn(collection: 'nodes' | 'examples'): Promise<(row: number) => unknown> {
    return this.column(collection, 'vector');
  }

  private column(collection: SearchCollection, name: string): (row: number) => unknown {
    const value = (SPECS[collection] as TableSpec<unknown>).columns[name];
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
    shardBudget: { maxRows: number; maxBytes: number; batchRows?: number; batchBytes?: number } = { maxRows: SHARD_MAX_ROWS, maxBytes: SHARD_MAX_TEXT_BYTES },
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
