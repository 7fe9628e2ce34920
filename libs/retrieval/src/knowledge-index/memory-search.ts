import type { KnowledgeIndexReader, SearchCollection, SearchFilter, TextField, TextHit } from './knowledge-index';

/** A row as the in-memory searches hold it: what a hit carries, and what filters test. */
export interface MemoryRow {
  id: string;
  cwes: string[];
  language: string;
  nodeId?: string;
  kind?: string;
}

const K1 = 1.2;
const B = 0.75;

/**
 * BM25 (k1 = 1.2, b = 0.75, Lucene's idf: the same formula LanceDB and Elasticsearch use) over
 * documents already turned into search terms, held in memory as postings in typed arrays. For a
 * KB of a few thousand documents a query costs a fraction of a millisecond, against about six
 * for a LanceDB full-text query, whatever its size (its per-query planning dominates): with seven
 * facets a query, that is the difference between 5 and 25 ms. Large collections stay on disk
 * (see {@link MemoryKnowledgeIndex}).
 */
export class Bm25Index {
  private readonly postings = new Map<string, { docs: Int32Array; tfs: Float32Array }>();
  private readonly lengths: Float32Array;
  private readonly avgLength: number;

  constructor(readonly rows: MemoryRow[], terms: string[]) {
    this.lengths = new Float32Array(rows.length);
    const building = new Map<string, { docs: number[]; tfs: number[] }>();
    terms.forEach((text, doc) => {
      const tf = new Map<string, number>();
      let length = 0;
      for (const t of text.split(' ')) {
        if (!t) continue;
        tf.set(t, (tf.get(t) ?? 0) + 1);
        length += 1;
      }
      this.lengths[doc] = length;
      for (const [t, n] of tf) {
        let p = building.get(t);
        if (!p) building.set(t, (p = { docs: [], tfs: [] }));
        p.docs.push(doc);
        p.tfs.push(n);
      }
    });
    for (const [t, p] of building) this.postings.set(t, { docs: Int32Array.from(p.docs), tfs: Float32Array.from(p.tfs) });
    this.avgLength = rows.length === 0 ? 0 : this.lengths.reduce((a, b) => a + b, 0) / rows.length;
  }

  /** The best `k` rows for the query's terms (each counted once) among those `keep` accepts, best first, ties by row order. */
  search(query: string, k: number, keep?: (row: MemoryRow) => boolean): TextHit[] {
    const n = this.rows.length;
    // Scores accumulate in a dense array with a list of the rows touched: at tens of thousands of
    // rows a Map per query costs ten times more than the arithmetic.
    const scores = new Float64Array(n);
    const touched: number[] = [];
    for (const term of new Set(query.split(' '))) {
      const p = term ? this.postings.get(term) : undefined;
      if (!p) continue;
      const idf = Math.log(1 + (n - p.docs.length + 0.5) / (p.docs.length + 0.5));
      for (let i = 0; i < p.docs.length; i++) {
        const doc = p.docs[i];
        const tf = p.tfs[i];
        if (scores[doc] === 0) touched.push(doc);
        scores[doc] += (idf * tf * (K1 + 1)) / (tf + K1 * (1 - B + (B * this.lengths[doc]) / this.avgLength));
      }
    }
    const best = new TopK(k);
    for (const doc of touched) if (!keep || keep(this.rows[doc])) best.offer(doc, scores[doc]);
    return best.sorted().map(([doc, score]) => toHit(this.rows[doc], score));
  }
}

/** Exact cosine nearest neighbours over unit vectors held in one Float32Array. */
export class VectorTable {
  private readonly data: Float32Array;

  constructor(readonly rows: MemoryRow[], vectors: Float32Array[], readonly dims: number) {
    this.data = new Float32Array(rows.length * dims);
    vectors.forEach((v, i) => this.data.set(v.subarray(0, dims), i * dims));
  }

  search(vector: Float32Array, k: number, keep?: (row: MemoryRow) => boolean): TextHit[] {
    let norm = 0;
    for (let j = 0; j < this.dims; j++) norm += vector[j] * vector[j];
    if (norm === 0) return [];
    const scale = 1 / Math.sqrt(norm);
    const best = new TopK(k);
    for (let i = 0; i < this.rows.length; i++) {
      if (keep && !keep(this.rows[i])) continue;
      let dot = 0;
      let rowNorm = 0;
      const base = i * this.dims;
      for (let j = 0; j < this.dims; j++) {
        dot += this.data[base + j] * vector[j];
        rowNorm += this.data[base + j] * this.data[base + j];
      }
      // A zero vector (text with no known term) has no cosine; it matches nothing.
      if (rowNorm > 0) best.offer(i, (dot * scale) / Math.sqrt(rowNorm));
    }
    return best.sorted().map(([i, score]) => toHit(this.rows[i], score));
  }
}

/**
 * The `k` best (row, score) pairs offered, best first, ties by row order whatever order they are
 * offered in: the same answer as sorting every candidate, for a k-sized buffer instead of a sort of
 * all of them (a common term touches most rows of a large collection).
 */
class TopK {
  private readonly items: [number, number][] = [];

  constructor(private readonly k: number) {}

  offer(row: number, score: number): void {
    if (this.k <= 0) return;
    const items = this.items;
    if (items.length === this.k && !better(row, score, items[items.length - 1])) return;
    let at = items.length;
    while (at > 0 && better(row, score, items[at - 1])) at -= 1;
    items.splice(at, 0, [row, score]);
    if (items.length > this.k) items.pop();
  }

  sorted(): [number, number][] {
    return this.items;
  }
}

function better(row: number, score: number, than: [number, number]): boolean {
  return score > than[1] || (score === than[1] && row < than[0]);
}

function toHit(row: MemoryRow, score: number): TextHit {
  return { id: row.id, score, cwes: row.cwes, language: row.language, ...(row.nodeId !== undefined ? { nodeId: row.nodeId } : {}) };
}

/** Collections up to this many rows are searched in memory; larger ones stay on the backend. */
export const MEMORY_SEARCH_MAX_ROWS = 60_000;

/** What the in-memory searches load from a backend: every row of a collection, with its term fields and vectors. */
export interface RowSource {
  counts(): Promise<Record<SearchCollection, number>>;
  scan(collection: SearchCollection, fields: string[]): Promise<Record<string, unknown>[]>;
}

const rowOf = (r: Record<string, unknown>): MemoryRow => ({
  id: String(r.id),
  cwes: typeof r.cwes === 'string' ? r.cwes.split(' ').filter(Boolean) : typeof r.cwe === 'string' ? [r.cwe] : [],
  language: typeof r.language === 'string' ? r.language : '',
  ...(typeof r.node_id === 'string' ? { nodeId: r.node_id } : {}),
  ...(typeof r.kind === 'string' ? { kind: r.kind } : {}),
});

/** The same filter as the backends' `where`, as a row predicate. */
function predicate(filter: SearchFilter | undefined, collection: SearchCollection): ((row: MemoryRow) => boolean) | undefined {
  if (!filter) return undefined;
  const nodeIds = filter.nodeIds ? new Set(filter.nodeIds) : undefined;
  const cwes = filter.cwes ? new Set(filter.cwes) : undefined;
  return (row) =>
    (filter.language === undefined || row.language === filter.language || (collection === 'nodes' && row.language === '')) &&
    (!filter.neutral || row.language === '') &&
    (filter.kind === undefined || row.kind === filter.kind) &&
    (filter.cwe === undefined || row.cwes.includes(filter.cwe)) &&
    (cwes === undefined || row.cwes.some((c) => cwes.has(c))) &&
    (nodeIds === undefined || (row.nodeId !== undefined && nodeIds.has(row.nodeId)));
}

/**
 * A knowledge index that answers from memory for the collections small enough to hold (a KB's
 * CWE nodes always; its examples and documents up to {@link MEMORY_SEARCH_MAX_ROWS}) and passes
 * the rest to the backend it wraps. Each collection's field is loaded on its first search, once.
 */
export class MemoryKnowledgeIndex implements KnowledgeIndexReader {
  private readonly text = new Map<string, Promise<Bm25Index | undefined>>();
  private readonly vectors = new Map<string, Promise<VectorTable | undefined>>();
  private sizes?: Promise<Record<SearchCollection, number>>;

  constructor(
    private readonly backend: KnowledgeIndexReader & RowSource,
    private readonly maxRows = MEMORY_SEARCH_MAX_ROWS,
  ) {}

  async searchText(collection: SearchCollection, field: TextField, query: string, k: number, filter?: SearchFilter): Promise<TextHit[]> {
    const index = await this.textIndex(collection, field);
    if (!index) return this.backend.searchText(collection, field, query, k, filter);
    const q = query.replace(/[^\p{L}\p{N}_\s]/gu, ' ').trim().replace(/\s+/g, ' ');
    return q ? index.search(q, k, predicate(filter, collection)) : [];
  }

  async searchVector(collection: 'nodes' | 'examples', vector: Float32Array, k: number, filter?: SearchFilter): Promise<TextHit[]> {
    const table = await this.vectorTable(collection);
    return table ? table.search(vector, k, predicate(filter, collection)) : this.backend.searchVector(collection, vector, k, filter);
  }

  counts(): Promise<Record<SearchCollection, number>> {
    this.sizes ??= this.backend.counts();
    return this.sizes;
  }

  private async small(collection: SearchCollection): Promise<boolean> {
    return (await this.counts())[collection] <= this.maxRows;
  }

  private textIndex(collection: SearchCollection, field: TextField): Promise<Bm25Index | undefined> {
    const key = `${collection}/${field}`;
    let found = this.text.get(key);
    if (!found) {
      found = (async () => {
        if (!(await this.small(collection))) return undefined;
        const rows = await this.backend.scan(collection, ['id', ...COLUMNS[collection], field]);
        return new Bm25Index(rows.map(rowOf), rows.map((r) => String(r[field] ?? '').trim()));
      })();
      this.text.set(key, found);
      found.catch(() => this.text.delete(key));
    }
    return found;
  }

  private vectorTable(collection: 'nodes' | 'examples'): Promise<VectorTable | undefined> {
    let found = this.vectors.get(collection);
    if (!found) {
      found = (async () => {
        if (!(await this.small(collection))) return undefined;
        const rows = await this.backend.scan(collection, ['id', ...COLUMNS[collection], 'vector']);
        const vectors = rows.map((r) => Float32Array.from(r.vector as ArrayLike<number>));
        return new VectorTable(rows.map(rowOf), vectors, vectors[0]?.length ?? 0);
      })();
      this.vectors.set(collection, found);
      found.catch(() => this.vectors.delete(collection));
    }
    return found;
  }
}

/** The columns each collection's rows carry for hits and filters. */
const COLUMNS: Record<SearchCollection, string[]> = { nodes: ['cwe', 'language'], examples: ['cwe', 'language', 'node_id', 'kind'], documents: ['cwes', 'language', 'kind'] };
