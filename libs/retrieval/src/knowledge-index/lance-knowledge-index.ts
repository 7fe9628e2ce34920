import { join } from 'node:path';
import * as lancedb from '@lancedb/lancedb';

/** A CWE node as the index stores it: text for the text facet, API names for the API facet, the cause vector for the cause facet. */
export interface IndexedNode {
  id: string;
  cwe: string;
  /** '' for nodes that hold every language (catalogue-only, or clustering by CWE). */
  language: string;
  text: string;
  apiText: string;
  causeVector: Float32Array;
}

/** A code example as the index stores it. */
export interface IndexedExample {
  id: string;
  nodeId: string;
  cwe: string;
  language: string;
  apiText: string;
  /** The sliced code of both versions and the description: BM25 over what the fix looks like. */
  codeText?: string;
  codeVector: Float32Array;
}

export interface Hit {
  id: string;
  /** BM25 score for text searches, cosine similarity for vector searches. */
  score: number;
}

export interface SearchFilter {
  /** Nodes of this language, plus language-neutral ones. */
  language?: string;
  /** Examples under these nodes only. */
  nodeIds?: string[];
  cwe?: string;
}

const NODES = 'cwe_nodes';
const EXAMPLES = 'code_examples';

const quote = (s: string): string => `'${s.replace(/'/g, "''")}'`;

function where(filter: SearchFilter | undefined, table: 'nodes' | 'examples'): string | undefined {
  const parts: string[] = [];
  if (filter?.language) parts.push(table === 'nodes' ? `(language = ${quote(filter.language)} OR language = '')` : `language = ${quote(filter.language)}`);
  if (filter?.cwe) parts.push(`cwe = ${quote(filter.cwe)}`);
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
 * order from the same data moves scores only slightly; vector scores are exact.
 */
export const SHARD_MAX_ROWS = 20_000;
export const SHARD_MAX_TEXT_BYTES = 24 << 20;

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
const mergeHits = (lists: Hit[][], k: number): Hit[] => lists.flat().sort((a, b) => b.score - a.score).slice(0, k);

/** Writes rows as one table per shard, each with the same full-text and bitmap indexes. */
async function writeSharded<T>(
  db: lancedb.Connection,
  base: string,
  items: T[],
  textBytes: (item: T) => number,
  toRow: (item: T) => Record<string, unknown>,
  indexes: { fts: string[]; bitmap: string[] },
  budget: { maxRows: number; maxBytes: number },
): Promise<void> {
  for (const [i, shard] of shardRows(items, textBytes, budget.maxRows, budget.maxBytes).entries()) {
    const table = await db.createTable(shardName(base, i), shard.map(toRow), { mode: 'overwrite' });
    for (const column of indexes.fts) await table.createIndex(column, { config: lancedb.Index.fts() });
    for (const column of indexes.bitmap) await table.createIndex(column, { config: lancedb.Index.bitmap() });
  }
}

/**
 * The embedded knowledge index: two LanceDB tables in a KB version's folder (each split into
 * shards when large), with full-text (BM25) indexes on the text and API columns and cosine vector
 * search, filtered by language, CWE and node.
 */
export class LanceKnowledgeIndex {
  private constructor(private readonly nodes: lancedb.Table[], private readonly examples: lancedb.Table[]) {}

  /** Writes both tables under `<versionDir>/lance` (overwriting: a version folder is written once). */
  static async write(versionDir: string, nodes: IndexedNode[], examples: IndexedExample[], shardBudget = { maxRows: SHARD_MAX_ROWS, maxBytes: SHARD_MAX_TEXT_BYTES }): Promise<void> {
    const db = await lancedb.connect(join(versionDir, 'lance'));
    const bytes = (...texts: string[]): number => texts.reduce((n, t) => n + Buffer.byteLength(t), 0);
    // Every node search filters by language: a bitmap index lets LanceDB skip the other rows.
    await writeSharded(db, NODES, nodes, (n) => bytes(n.text, n.apiText), (n) => ({ id: n.id, cwe: n.cwe, language: n.language, text: n.text || ' ', api_text: n.apiText || ' ', vector: Array.from(n.causeVector) }), { fts: ['text', 'api_text'], bitmap: ['language'] }, shardBudget);
    if (examples.length === 0) return;
    // Code-level searches filter by node (the kept CWEs), the examples facet by language.
    await writeSharded(db, EXAMPLES, examples, (e) => bytes(e.apiText, e.codeText ?? ''), (e) => ({ id: e.id, node_id: e.nodeId, cwe: e.cwe, language: e.language, api_text: e.apiText || ' ', code_text: e.codeText || ' ', vector: Array.from(e.codeVector) }), { fts: ['api_text', 'code_text'], bitmap: ['node_id', 'language'] }, shardBudget);
  }

  static async open(versionDir: string): Promise<LanceKnowledgeIndex> {
    const db = await lancedb.connect(join(versionDir, 'lance'));
    const names = await db.tableNames();
    const openAll = (base: string): Promise<lancedb.Table[]> => Promise.all(names.filter((n) => isShardOf(base, n)).map((n) => db.openTable(n)));
    const nodes = await openAll(NODES);
    if (nodes.length === 0) throw new Error(`no ${NODES} table in ${join(versionDir, 'lance')}; rebuild the KB version`);
    return new LanceKnowledgeIndex(nodes, await openAll(EXAMPLES));
  }

  /** BM25 over a node text column (`text` or `api_text`). */
  async searchNodesText(query: string, column: 'text' | 'api_text', k: number, filter?: SearchFilter): Promise<Hit[]> {
    return this.fts(this.nodes, query, column, k, where(filter, 'nodes'));
  }

  async searchNodesVector(vector: Float32Array, k: number, filter?: SearchFilter): Promise<Hit[]> {
    return this.knn(this.nodes, vector, k, where(filter, 'nodes'));
  }

  async searchExamplesApi(query: string, k: number, filter?: SearchFilter): Promise<Hit[]> {
    return this.fts(this.examples, query, 'api_text', k, where(filter, 'examples'));
  }

  async searchExamplesVector(vector: Float32Array, k: number, filter?: SearchFilter): Promise<Hit[]> {
    return this.knn(this.examples, vector, k, where(filter, 'examples'));
  }

  /**
   * CWE nodes ranked by their best example under BM25 over the examples' code (a node's rank is
   * that of its first example in the list): the task's code compared with what fixes look like.
   */
  async searchNodesByExampleCode(query: string, k: number, filter?: SearchFilter): Promise<Hit[]> {
    const rows = await this.fts(this.examples, query, 'code_text', k, where(filter ? { language: filter.language } : undefined, 'examples'), 'node_id');
    const seen = new Set<string>();
    const hits: Hit[] = [];
    for (const r of rows) if (!seen.has(r.id)) { seen.add(r.id); hits.push(r); }
    return hits;
  }

  async counts(): Promise<{ nodes: number; examples: number }> {
    const sum = async (tables: lancedb.Table[]): Promise<number> => (await Promise.all(tables.map((t) => t.countRows()))).reduce((a, b) => a + b, 0);
    return { nodes: await sum(this.nodes), examples: await sum(this.examples) };
  }

  /** BM25 over every shard; `idColumn` names what a hit is (the row, or its node). */
  private async fts(tables: lancedb.Table[], query: string, column: string, k: number, filter?: string, idColumn = 'id'): Promise<Hit[]> {
    const q = query.replace(/[^\p{L}\p{N}_\s]/gu, ' ').trim();
    if (!q) return [];
    const lists = await Promise.all(
      tables.map(async (table) => {
        let builder = table.query().fullTextSearch(q, { columns: column }).select([idColumn]).limit(k);
        if (filter) builder = builder.where(filter);
        const rows = (await builder.toArray()) as Record<string, unknown>[];
        return rows.map((r) => ({ id: String(r[idColumn]), score: Number(r._score) }));
      }),
    );
    return mergeHits(lists, k);
  }

  private async knn(tables: lancedb.Table[], vector: Float32Array, k: number, filter?: string): Promise<Hit[]> {
    const query = Array.from(vector);
    const lists = await Promise.all(
      tables.map(async (table) => {
        let builder = table.vectorSearch(query).distanceType('cosine').select(['id']).limit(k);
        if (filter) builder = builder.where(filter);
        const rows = (await builder.toArray()) as { id: string; _distance: number }[];
        // A zero vector (text with no known term) has no cosine; it matches nothing.
        return rows.filter((r) => Number.isFinite(r._distance)).map((r) => ({ id: r.id, score: 1 - r._distance }));
      }),
    );
    return mergeHits(lists, k);
  }
}
