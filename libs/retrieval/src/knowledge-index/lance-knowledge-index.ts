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
 * The embedded knowledge index: two LanceDB tables in a KB version's folder, with full-text (BM25)
 * indexes on the text and API columns and cosine vector search, filtered by language, CWE and node.
 */
export class LanceKnowledgeIndex {
  private constructor(private readonly nodes: lancedb.Table, private readonly examples: lancedb.Table) {}

  /** Writes both tables under `<versionDir>/lance` (overwriting: a version folder is written once). */
  static async write(versionDir: string, nodes: IndexedNode[], examples: IndexedExample[]): Promise<void> {
    const db = await lancedb.connect(join(versionDir, 'lance'));
    const nodeRows = nodes.map((n) => ({ id: n.id, cwe: n.cwe, language: n.language, text: n.text || ' ', api_text: n.apiText || ' ', vector: Array.from(n.causeVector) }));
    const exampleRows = examples.map((e) => ({ id: e.id, node_id: e.nodeId, cwe: e.cwe, language: e.language, api_text: e.apiText || ' ', code_text: e.codeText || ' ', vector: Array.from(e.codeVector) }));
    const nt = await db.createTable(NODES, nodeRows, { mode: 'overwrite' });
    await nt.createIndex('text', { config: lancedb.Index.fts() });
    await nt.createIndex('api_text', { config: lancedb.Index.fts() });
    if (exampleRows.length > 0) {
      const et = await db.createTable(EXAMPLES, exampleRows, { mode: 'overwrite' });
      await et.createIndex('api_text', { config: lancedb.Index.fts() });
      await et.createIndex('code_text', { config: lancedb.Index.fts() });
    }
  }

  static async open(versionDir: string): Promise<LanceKnowledgeIndex> {
    const db = await lancedb.connect(join(versionDir, 'lance'));
    return new LanceKnowledgeIndex(await db.openTable(NODES), await db.openTable(EXAMPLES));
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
    const q = query.replace(/[^\p{L}\p{N}_\s]/gu, ' ').trim();
    if (!q) return [];
    let builder = this.examples.query().fullTextSearch(q, { columns: 'code_text' }).select(['node_id']).limit(k);
    const w = where(filter ? { language: filter.language } : undefined, 'examples');
    if (w) builder = builder.where(w);
    const rows = (await builder.toArray()) as { node_id: string; _score: number }[];
    const seen = new Set<string>();
    const hits: Hit[] = [];
    for (const r of rows) if (!seen.has(r.node_id)) { seen.add(r.node_id); hits.push({ id: r.node_id, score: r._score }); }
    return hits;
  }

  async counts(): Promise<{ nodes: number; examples: number }> {
    return { nodes: await this.nodes.countRows(), examples: await this.examples.countRows() };
  }

  private async fts(table: lancedb.Table, query: string, column: string, k: number, filter?: string): Promise<Hit[]> {
    const q = query.replace(/[^\p{L}\p{N}_\s]/gu, ' ').trim();
    if (!q) return [];
    let builder = table.query().fullTextSearch(q, { columns: column }).select(['id']).limit(k);
    if (filter) builder = builder.where(filter);
    const rows = (await builder.toArray()) as { id: string; _score: number }[];
    return rows.map((r) => ({ id: r.id, score: r._score }));
  }

  private async knn(table: lancedb.Table, vector: Float32Array, k: number, filter?: string): Promise<Hit[]> {
    let builder = table.vectorSearch(Array.from(vector)).distanceType('cosine').select(['id']).limit(k);
    if (filter) builder = builder.where(filter);
    const rows = (await builder.toArray()) as { id: string; _distance: number }[];
    // A zero vector (text with no known term) has no cosine; it matches nothing.
    return rows.filter((r) => Number.isFinite(r._distance)).map((r) => ({ id: r.id, score: 1 - r._distance }));
  }
}
