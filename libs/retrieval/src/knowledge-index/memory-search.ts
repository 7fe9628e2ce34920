import { sha256Bytes } from '@rescue/domain';
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
 * A search sums its postings and then finds the rows touched in one pass over every row when it
 * has more than one posting for this many rows (else it notes each row when first touched).
 */
const SCAN_RATIO = 8;

/** The BM25 parameters the in-memory index's stored norms were computed with (a snapshot made with others is not used). */
export const BM25_PARAMS = { k1: K1, b: B } as const;

/** Each term's id in a {@link Bm25Index}: a Map when built, a search over stored sorted terms when read back (see memory-snapshot.ts). */
export interface TermIds {
  get(term: string): number | undefined;
  readonly size: number;
  /** The terms in id order. */
  keys(): Iterable<string>;
}

/**
 * What a {@link Bm25Index} holds besides its rows: the terms' ids, the postings, and what a query
 * would recompute for each of them. A KB version stores them (see memory-snapshot.ts), so opening
 * it does not tokenize every document again.
 */
export interface Bm25Parts {
  termIds: TermIds;
  /** Per term id: where its postings start in `docs`/`tfs` (one more entry than terms). */
  starts: Int32Array;
  docs: Int32Array;
  tfs: Float32Array;
  docNorm: Float64Array;
  idfs: Float64Array;
}

/**
 * BM25 (k1 = 1.2, b = 0.75, Lucene's idf: the same formula LanceDB and Elasticsearch use) over
 * documents already turned into search terms, held in memory as postings in typed arrays.
 *
 * Layout: one Int32Array of document numbers and one Float32Array of term frequencies for all
 * terms, each term a slice (`starts`): about 8 bytes a posting, outside the JS heap, where a
 * Map of arrays per term cost several times that. What a query would recompute for every posting
 * is computed once: each document's length normalisation and each term's idf at load, and from
 * them each posting's weight on the first search (8 more bytes a posting, kept while searching),
 * with the same arithmetic in the same order, so scores are bit for bit those of computing them
 * per query.
 *
 * Every posting of every query term is scored: queries hold up to 64 terms (MAX_QUERY_TERMS), and
 * with that many the bounds MaxScore-style pruning relies on stay above the k-th best score, so
 * it skipped nothing here and cost more than the sweep (measured at 10× and 100× our KB).
 */
export class Bm25Index {
  private readonly termIds: TermIds;
  private readonly starts: Int32Array;
  private readonly docs: Int32Array;
  private readonly tfs: Float32Array;
  /** Per document: k1 · (1 − b + b · length / average length). */
  private readonly docNorm: Float64Array;
  private readonly idfs: Float64Array;
  /** A search's accumulators (cleared after each) and the last query's touched rows and scores. */
  private scratch?: { acc: Float64Array; touched: Int32Array; scores: Float64Array; query: string | undefined; count: number };
  /** Per posting: its term's BM25 weight in its document (see {@link impacts}). */
  private postingScores?: Float64Array;

  /**
   * From each row's search terms, or from the parts an index built from them holds ({@link parts}).
   * `rememberPairs`: how many (term, tf) pairs building it keeps between its two passes (see
   * {@link REMEMBERED_PAIRS_MAX}); the index is the same whatever it is.
   */
  constructor(
    readonly rows: MemoryRow[],
    source: string[] | TextColumn | Bm25Parts,
    rememberPairs = REMEMBERED_PAIRS_MAX,
    reuse?: PostingsReuse,
  ) {
    const textOf: TextColumn | undefined = Array.isArray(source) ? (i) => source[i] : typeof source === 'function' ? source : undefined;
    const built = textOf ? buildPostings(textOf, rows.length, rememberPairs, reuse && reusePlan(rows, reuse)) : (source as Bm25Parts);
    this.termIds = built.termIds;
    this.starts = built.starts;
    this.docs = built.docs;
    this.tfs = built.tfs;
    this.docNorm = built.docNorm;
    this.idfs = built.idfs;
  }

  /** What rebuilds this index exactly (with the same rows): the term ids and the typed arrays. */
  parts(): Bm25Parts {
    return { termIds: this.termIds, starts: this.starts, docs: this.docs, tfs: this.tfs, docNorm: this.docNorm, idfs: this.idfs };
  }

  private filterColumns?: RowColumns;

  /** The rows' filter columns, built on the first filtered search. */
  get columns(): RowColumns {
    this.filterColumns ??= new RowColumns(this.rows);
    return this.filterColumns;
  }

  /** Postings held (one per distinct term of each document): what the index's memory grows with. */
  get postings(): number {
    return this.docs.length;
  }

  /** The best `k` rows for the query's terms (each counted once) among those `keep` accepts, best first, ties by row order. */
  search(query: string, k: number, keep?: RowTest): TextHit[] {
    const { touched, scores, count } = this.accumulate(query);
    const best = new TopK(k);
    // The score is tested before the filter: a row that could not enter the top k is not looked at.
    // At 100× most touched rows score under the k-th best, and the filter (a row object a call, far
    // apart on the heap) cost three times the whole sweep when it ran for every one of them. A score
    // under the k-th best's (`floor`) is passed over before asking the top k: no tie can let it in.
    let floor = -Infinity;
    for (let i = 0; i < count; i++) {
      if (scores[i] < floor || !best.takes(touched[i], scores[i]) || (keep && !keep(this.rows[touched[i]], touched[i]))) continue;
      best.offer(touched[i], scores[i]);
      if (best.full) floor = best.last;
    }
    return best.sorted().map(([doc, score]) => toHit(this.rows[doc], score));
  }

  /**
   * Every document's score for a query, term after term in the query's order over every posting.
   * The last query's scores are kept: facets search one collection with one query under several
   * filters (CodeQL help and descriptions are both documents), and the sweep is the whole cost.
   * The arrays are allocated once per index and reused (a search is synchronous, and reads them
   * before the next one): at 100× a fresh 3 MB a query made the collector the slowest part.
   */
  private accumulate(query: string): { touched: Int32Array; scores: Float64Array; count: number } {
    const n = this.rows.length;
    this.scratch ??= { acc: new Float64Array(n), touched: new Int32Array(n), scores: new Float64Array(n), query: undefined, count: 0 };
    const s = this.scratch;
    if (s.query === query) return s;
    const { docs, starts } = this;
    const impacts = this.impacts();
    // Scores accumulate in a dense array with a list of the rows touched: at tens of thousands of
    // rows a Map per query costs ten times more than the arithmetic.
    const { acc, touched } = s;
    const terms: number[] = [];
    let postings = 0;
    for (const term of new Set(query.split(' '))) {
      const t = term ? this.termIds.get(term) : undefined;
      if (t === undefined) continue;
      terms.push(t);
      postings += starts[t + 1] - starts[t];
    }
    let count = 0;
    if (postings * SCAN_RATIO < n) {
      // Few postings: the rows touched listed as they are first met.
      for (const t of terms) {
        for (let p = starts[t]; p < starts[t + 1]; p++) {
          const doc = docs[p];
          if (acc[doc] === 0) touched[count++] = doc;
          acc[doc] += impacts[p];
        }
      }
      // The scores of the rows touched, in the same order, so the dense array can be cleared.
      for (let i = 0; i < count; i++) {
        s.scores[i] = acc[touched[i]];
        acc[touched[i]] = 0;
      }
    } else {
      // Many: the sums alone, then one pass over the rows for those touched (every score is
      // positive). Testing each posting's row for a first touch cost more than this pass: at 100×
      // our KB a query's postings are a good part of the rows, and the test a branch the processor
      // cannot predict. Each row's sum is the same, added in the same order.
      for (const t of terms) for (let p = starts[t]; p < starts[t + 1]; p++) acc[docs[p]] += impacts[p];
      for (let doc = 0; doc < n; doc++) {
        if (acc[doc] === 0) continue;
        touched[count] = doc;
        s.scores[count++] = acc[doc];
        acc[doc] = 0;
      }
    }
    s.query = query;
    s.count = count;
    return s;
  }

  /**
   * Each posting's BM25 weight, (idf · tf · (k1 + 1)) / (tf + norm), computed once on the first
   * search with the same arithmetic in the same order as a query would (so the sums are the same,
   * bit for bit). A query then adds one number a posting: reading the document's norm (a row far
   * from the last) and dividing were about a third of a search at 100× our KB. Made on the first
   * search, not at construction: an index built only to be stored (a publish's snapshot) never
   * searches. It costs 8 bytes a posting beside the postings' 8.
   */
  private impacts(): Float64Array {
    if (this.postingScores) return this.postingScores;
    const { docs, tfs, docNorm, starts, idfs } = this;
    const out = new Float64Array(docs.length);
    for (let t = 0; t + 1 < starts.length; t++) {
      const idf = idfs[t];
      for (let p = starts[t]; p < starts[t + 1]; p++) {
        const tf = tfs[p];
        out[p] = (idf * tf * (K1 + 1)) / (tf + docNorm[docs[p]]);
      }
    }
    this.postingScores = out;
    return out;
  }
}

/**
 * The postings of documents given as search terms (one string each, split on spaces), with each
 * document's norm and each term's idf. Two passes over the text: the first gives every term its
 * id (in order of first use) and counts its documents, so the second writes each (document, tf)
 * pair straight into its term's slice. Collecting the pairs first and regrouping them afterwards
 * held them twice over (in arrays grown by doubling, then the postings): at 100× our KB, a few
 * hundred MB at the publish's peak, where the postings alone are 8 bytes a pair.
 */
function buildPostings(textOf: TextColumn, n: number, rememberPairs: number, plan?: ReusePlan): Bm25Parts {
  const lengths = new Float32Array(n);
  const terms = new TermCounter();
  const { termIds, df, tfIn, docTerms } = terms;
  // The first pass also keeps each document's (term, tf) pairs, while they fit in
  // REMEMBERED_PAIRS_MAX, so the second pass reads them back instead of splitting the text and
  // looking up every word again (that was most of writing a 1x KB's snapshot); documents past
  // the bound are counted again, as before. The pairs come out the same either way.
  const remembered = new RememberedPairs(n, rememberPairs);
  for (let doc = 0; doc < n; doc++) {
    const old = plan ? plan.oldDocOf[doc] : -1;
    const taken = old >= 0 ? terms.fromEarlier(plan as ReusePlan, old, doc) : -1;
    lengths[doc] = taken >= 0 ? taken : terms.countDocument(textOf(doc), doc, true);
    for (const id of docTerms) df[id] += 1;
    remembered.offer(doc, docTerms, tfIn);
  }
  const termCount = df.length;
  const starts = new Int32Array(termCount + 1);
  for (let t = 0; t < termCount; t++) starts[t + 1] = starts[t] + df[t];
  const pairs = starts[termCount];
  const docs = new Int32Array(pairs);
  const tfs = new Float32Array(pairs);
  const fill = starts.slice(0, termCount);
  terms.forgetDocuments();
  // Documents in order, so each term's documents come out ascending.
  for (let doc = 0; doc < n; doc++) {
    const pairs = remembered.of(doc);
    if (pairs) {
      for (let p = pairs.from; p < pairs.to; p++) {
        const at = fill[pairs.ids[p]]++;
        docs[at] = doc;
        tfs[at] = pairs.tfs[p];
      }
      continue;
    }
    terms.countDocument(textOf(doc), doc, false);
    for (const id of docTerms) {
      const at = fill[id]++;
      docs[at] = doc;
      tfs[at] = tfIn[id];
    }
  }
  let total = 0;
  for (let doc = 0; doc < n; doc++) total += lengths[doc];
  const avgLength = n === 0 ? 0 : total / n;
  const docNorm = new Float64Array(n);
  for (let doc = 0; doc < n; doc++) docNorm[doc] = K1 * (1 - B + (B * lengths[doc]) / avgLength);
  const idfs = new Float64Array(termCount);
  for (let t = 0; t < termCount; t++) idfs[t] = Math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5));
  return { termIds, starts, docs, tfs, docNorm, idfs };
}

/**
 * {@link buildPostings}' term ids and per-document counts. A class, not closures made per call:
 * each field's build (seven a publish) made new closures, and optimized code that had called the
 * last field's was dropped at its first call of the new ones (V8 deoptimizes on a new call
 * target) and compiled again. In a +1% rebuild V8's threads spent ~200 ms compiling
 * buildPostings four times; ~60 ms with this class.
 */
class TermCounter {
  readonly termIds = new Map<string, number>();
  /** Per term: how many documents use it. */
  readonly df: number[] = [];
  /** Per term: its count in the document last counted (valid for the terms in `docTerms`). */
  readonly tfIn: number[] = [];
  /** The document last counted's distinct terms, in order of first use (cheaper than a Map per document: loading a KB's index is this loop). */
  readonly docTerms: number[] = [];
  /** Per term: the last document that counted it. */
  private readonly seenIn: number[] = [];

  /** The next id, given to `term` on its first use. */
  newTerm(term: string): number {
    const id = this.df.length;
    this.termIds.set(term, id);
    this.df.push(0);
    this.seenIn.push(-1);
    this.tfIn.push(0);
    return id;
  }

  /** Makes every document count as not seen yet, for a second pass over them. */
  forgetDocuments(): void {
    this.seenIn.fill(-1);
  }

  /** Document `doc`'s distinct terms into `docTerms` (their counts in `tfIn`); its length. */
  countDocument(text: string, doc: number, assign: boolean): number {
    const { termIds, seenIn, tfIn, docTerms } = this;
    docTerms.length = 0;
    let length = 0;
    for (const t of text.split(' ')) {
      if (!t) continue;
      let id = termIds.get(t);
      if (id === undefined) {
        if (!assign) throw new RangeError(`term ${JSON.stringify(t)} of document ${doc} was not seen in the first pass`);
        id = this.newTerm(t);
      }
      if (seenIn[id] !== doc) {
        seenIn[id] = doc;
        tfIn[id] = 0;
        docTerms.push(id);
      }
      tfIn[id] += 1;
      length += 1;
    }
    return length;
  }

  /**
   * An unchanged document's pairs, from the earlier index (see {@link reusePlan}), into `docTerms`
   * and `tfIn` as countDocument would put them; its length, or -1 when its text must be read: a term
   * it holds that has no id yet was first met, in the earlier index, in another document, so the
   * order in which this text first uses such terms (which decides their ids) is not known.
   */
  fromEarlier(p: ReusePlan, old: number, doc: number): number {
    const { pairStart, pairTerm, pairTf, firstDoc, newIdOfOld, oldTerms } = p;
    const { termIds, seenIn, tfIn, docTerms } = this;
    for (let q = pairStart[old]; q < pairStart[old + 1]; q++) {
      const t = pairTerm[q];
      if (newIdOfOld[t] !== -1) continue;
      // A term a text read before this one gave an id: learnt here, once (a lookup in this build's
      // terms), not told of each term those texts gave an id to (a search of the earlier index's).
      const known = termIds.get(oldTerms[t]);
      if (known !== undefined) newIdOfOld[t] = known;
      else if (firstDoc[t] !== old) return -1;
    }
    docTerms.length = 0;
    let length = 0;
    // In the earlier ids' order: the terms this document was the first to use got their ids in the
    // order its text first uses them, so among those still without an id that order is the same.
    for (let q = pairStart[old]; q < pairStart[old + 1]; q++) {
      const t = pairTerm[q];
      let id = newIdOfOld[t];
      if (id === -1) {
        id = this.newTerm(oldTerms[t]);
        newIdOfOld[t] = id;
      }
      seenIn[id] = doc;
      // An integer kept as one: a float read off the Float32Array would turn `tfIn` into an array
      // of doubles, and the optimized code of countDocument, made for integers, would be dropped.
      tfIn[id] = pairTf[q] | 0;
      docTerms.push(id);
      length += pairTf[q];
    }
    return length;
  }
}

/** Words of a text's hash kept per document (see {@link textHashes}). */
export const TEXT_HASH_WORDS = 4;

/**
 * Each text's hash, {@link TEXT_HASH_WORDS} 32-bit words of its SHA-256 per document: what tells
 * a rebuild which documents of an earlier index are unchanged (see {@link PostingsReuse}).
 */
export function textHashes(textOf: TextColumn, n: number): Int32Array {
  const out = new Int32Array(n * TEXT_HASH_WORDS);
  for (let doc = 0; doc < n; doc++) {
    const digest = sha256Bytes(textOf(doc));
    for (let w = 0; w < TEXT_HASH_WORDS; w++) out[doc * TEXT_HASH_WORDS + w] = digest.readInt32LE(w * 4);
  }
  return out;
}

/** An earlier index of the same field, as a KB version's snapshot keeps it (see memory-snapshot.ts). */
export interface EarlierPostings {
  /** Its row ids, in its order. */
  ids: readonly string[];
  /** Its documents' {@link textHashes}. */
  hashes: Int32Array;
  parts: Bm25Parts;
  /** Its terms, sorted (what the snapshot stores): a rebuild's terms are sorted by merging into them. */
  sorted?: readonly string[];
}

/**
 * What a rebuild's index may take from an earlier one: a document under the same row id whose
 * text hashes the same is not tokenized again, its (term, count) pairs are read off the earlier
 * postings. The index comes out exactly as built from every text (the same term ids, postings,
 * norms and idfs): a +1% rebuild's snapshot tokenized every document of every field again, about
 * a third of its publish.
 */
export interface PostingsReuse {
  /** This index's documents' {@link textHashes}. */
  hashes: Int32Array;
  earlier: EarlierPostings;
}

/** The earlier index read document by document, for the documents this build takes from it. */
interface ReusePlan {
  /** Per document of this build, the earlier document it is (-1: tokenized). */
  oldDocOf: Int32Array;
  /** Per earlier document taken, its pairs: `pairTerm`/`pairTf` from `pairStart[d]` (earlier term ids ascending). */
  pairStart: Int32Array;
  pairTerm: Int32Array;
  pairTf: Float32Array;
  /** Per earlier term: the first earlier document that used it. */
  firstDoc: Int32Array;
  /** Per earlier term: its id in this build, once known to have one (-1 before). */
  newIdOfOld: Int32Array;
  oldTerms: string[];
}

/** Whether term slices run from 0 to the end of `docs` without going back, each one's documents ascending and in range, each count positive. */
function postingsAreSound(starts: Int32Array, docs: Int32Array, tfs: Float32Array, n: number): boolean {
  if (starts.length === 0 || starts[0] !== 0 || starts[starts.length - 1] !== docs.length || tfs.length !== docs.length) return false;
  for (let t = 0; t + 1 < starts.length; t++) {
    if (starts[t + 1] < starts[t]) return false;
    for (let p = starts[t]; p < starts[t + 1]; p++) if (!(docs[p] >= 0 && docs[p] < n && (p === starts[t] || docs[p] > docs[p - 1]) && tfs[p] >= 1)) return false;
  }
  return true;
}

function reusePlan(rows: MemoryRow[], { hashes, earlier }: PostingsReuse): ReusePlan | undefined {
  const { ids, parts } = earlier;
  const oldN = ids.length;
  const n = rows.length;
  if (hashes.length !== n * TEXT_HASH_WORDS || earlier.hashes.length !== oldN * TEXT_HASH_WORDS || parts.docNorm.length !== oldN) return undefined;
  const matched = unchangedDocuments(rows, hashes, earlier);
  if (!matched) return undefined;
  const { starts, docs, tfs, termIds } = parts;
  // Postings that are not what an index builds (its snapshot passed its checksum, but was written
  // by other code): nothing is taken from them, rather than pairs read out of place.
  if (!postingsAreSound(starts, docs, tfs, oldN) || termIds.size !== starts.length - 1) return undefined;
  return {
    oldDocOf: matched.oldDocOf,
    ...pairsOfTaken(parts, matched.taken),
    newIdOfOld: new Int32Array(starts.length - 1).fill(-1),
    oldTerms: [...termIds.keys()],
  };
}

// reusePlan's loops are functions of their own: compiled in the middle of its first long loop,
// one function holding them all then met allocations it had not run yet (no type feedback) and
// was deoptimized, 9–10 times in a +1% rebuild; 3–5 times split so.

/** Per document of this build, the earlier document under its row id whose text hashes the same (-1: none), and which earlier documents are so taken; undefined when none is. */
function unchangedDocuments(rows: MemoryRow[], hashes: Int32Array, earlier: EarlierPostings): { oldDocOf: Int32Array; taken: Uint8Array } | undefined {
  const oldN = earlier.ids.length;
  const n = rows.length;
  const oldAt = new Map<string, number>();
  earlier.ids.forEach((id, i) => oldAt.set(id, i));
  const oldDocOf = new Int32Array(n).fill(-1);
  const taken = new Uint8Array(oldN);
  let any = false;
  for (let doc = 0; doc < n; doc++) {
    const old = oldAt.get(rows[doc].id);
    if (old === undefined || taken[old] === 1) continue;
    let same = true;
    for (let w = 0; w < TEXT_HASH_WORDS && same; w++) same = hashes[doc * TEXT_HASH_WORDS + w] === earlier.hashes[old * TEXT_HASH_WORDS + w];
    if (!same) continue;
    oldDocOf[doc] = old;
    taken[old] = 1;
    any = true;
  }
  return any ? { oldDocOf, taken } : undefined;
}

/** The taken earlier documents' (term, tf) pairs, document by document, and each earlier term's first document. */
function pairsOfTaken({ starts, docs, tfs }: Bm25Parts, taken: Uint8Array): Pick<ReusePlan, 'pairStart' | 'pairTerm' | 'pairTf' | 'firstDoc'> {
  const oldN = taken.length;
  const termCount = starts.length - 1;
  const pairStart = new Int32Array(oldN + 1);
  for (let p = 0; p < docs.length; p++) if (taken[docs[p]] === 1) pairStart[docs[p] + 1] += 1;
  for (let d = 0; d < oldN; d++) pairStart[d + 1] += pairStart[d];
  const fill = pairStart.slice(0, oldN);
  const pairTerm = new Int32Array(pairStart[oldN]);
  const pairTf = new Float32Array(pairStart[oldN]);
  const firstDoc = new Int32Array(termCount);
  // Terms in id order, each term's documents ascending: each document's pairs come out by term id.
  for (let t = 0; t < termCount; t++) {
    firstDoc[t] = starts[t] < starts[t + 1] ? docs[starts[t]] : -1;
    for (let p = starts[t]; p < starts[t + 1]; p++) {
      const d = docs[p];
      if (taken[d] === 0) continue;
      pairTerm[fill[d]] = t;
      pairTf[fill[d]++] = tfs[p];
    }
  }
  return { pairStart, pairTerm, pairTf, firstDoc };
}

/**
 * Pairs a first pass of {@link buildPostings} keeps, at most: 8 bytes each, so 8 MB. A field of
 * the shared data at 1× has up to about 100,000 (the examples' code terms, the CWE documents);
 * at 100× the postings alone are hundreds of MB, and keeping them all twice over was once a
 * build's memory peak, so a big field keeps its first million and counts the rest again.
 */
export const REMEMBERED_PAIRS_MAX = 1 << 20;

/** Each document's distinct term ids and their counts, in order of first use, for the first documents whose pairs fit. */
class RememberedPairs {
  private ids = new Int32Array(0);
  private tfs = new Int32Array(0);
  private readonly ends: Int32Array;
  private used = 0;
  /** Documents [0, complete) are kept whole; none after the first that did not fit. */
  private complete = 0;
  private full = false;

  constructor(
    n: number,
    private readonly max: number,
  ) {
    this.ends = new Int32Array(n);
  }

  offer(doc: number, termIds: readonly number[], tfOf: readonly number[]): void {
    if (this.full) return;
    const need = this.used + termIds.length;
    if (need > this.max) {
      this.full = true;
      return;
    }
    if (need > this.ids.length) {
      const size = Math.min(this.max, Math.max(need, 1024, this.ids.length * 2));
      const ids = new Int32Array(size);
      const tfs = new Int32Array(size);
      ids.set(this.ids.subarray(0, this.used));
      tfs.set(this.tfs.subarray(0, this.used));
      this.ids = ids;
      this.tfs = tfs;
    }
    for (const id of termIds) {
      this.ids[this.used] = id;
      this.tfs[this.used++] = tfOf[id];
    }
    this.ends[doc] = this.used;
    this.complete = doc + 1;
  }

  of(doc: number): { ids: Int32Array; tfs: Int32Array; from: number; to: number } | undefined {
    if (doc >= this.complete) return undefined;
    return { ids: this.ids, tfs: this.tfs, from: doc === 0 ? 0 : this.ends[doc - 1], to: this.ends[doc] };
  }
}

/** What a {@link VectorTable} holds besides its rows: the vectors row after row, and their norms. */
export interface VectorParts {
  data: Float32Array;
  rowNorms: Float64Array;
}

/**
 * Exact cosine nearest neighbours over unit vectors held in one Float32Array. Each row's norm is
 * computed once at load, in the order a query would, so a query costs one dot product a row.
 *
 * Tried and dropped (measured on the bench's queries at 10× and 100× our KB): bounding each row's
 * cosine by its first d dimensions plus |q_rest|·|x_rest| (Cauchy–Schwarz) ruled out 0%, 1%, 6%,
 * 21% and 49% of the candidate rows at d = 32, 64, 96, 128 and 160 of 256 (the embedder's axes
 * are scaled by σ^−0.5, so a vector's weight is spread over all of them); and a first pass
 * summing four products at once (then the ordered sum for the near-top rows only) cost as much as
 * the ordered sum itself. What made the code level cheaper is visiting only its CWEs' rows.
 */
export class VectorTable {
  private readonly data: Float32Array;
  /** √(row · row), or 0 for a zero row. */
  private readonly rowNorms: Float64Array;

  /** From one vector a row, or from the parts a table built from them holds ({@link parts}). */
  constructor(
    readonly rows: MemoryRow[],
    vectors: Float32Array[] | VectorParts,
    readonly dims: number,
  ) {
    if (!Array.isArray(vectors)) {
      this.data = vectors.data;
      this.rowNorms = vectors.rowNorms;
      return;
    }
    this.data = new Float32Array(rows.length * dims);
    vectors.forEach((v, i) => this.data.set(v.subarray(0, dims), i * dims));
    this.rowNorms = new Float64Array(rows.length);
    for (let i = 0; i < rows.length; i++) {
      let rowNorm = 0;
      const base = i * dims;
      for (let j = 0; j < dims; j++) rowNorm += this.data[base + j] * this.data[base + j];
      this.rowNorms[i] = Math.sqrt(rowNorm);
    }
  }

  /** What rebuilds this table exactly (with the same rows and dims). */
  parts(): VectorParts {
    return { data: this.data, rowNorms: this.rowNorms };
  }

  private filterColumns?: RowColumns;

  /** The rows' filter columns, built on the first filtered search. */
  get columns(): RowColumns {
    this.filterColumns ??= new RowColumns(this.rows);
    return this.filterColumns;
  }

  /**
   * The best `k` rows by cosine among those `keep` accepts, best first, ties by row order; when
   * `lists` are given, among their rows only (disjoint lists of rows, each ascending: see
   * {@link RowColumns.candidates}), so a search under a few CWEs costs their rows, not the table's.
   */
  search(vector: Float32Array, k: number, keep?: RowTest, lists?: Int32Array[]): TextHit[] {
    const dims = this.dims;
    let norm = 0;
    for (let j = 0; j < dims; j++) norm += vector[j] * vector[j];
    if (norm === 0) return [];
    const scale = 1 / Math.sqrt(norm);
    const q = Float64Array.from(vector.subarray(0, dims));
    const best = new TopK(k);
    // Rows that pass wait in eights, and an eight's dot products are summed side by side.
    const eight = new Int32Array(8);
    let waiting = 0;
    const visit = (i: number): void => {
      // A zero vector (text with no known term) has no cosine; it matches nothing.
      if (this.rowNorms[i] === 0 || (keep && !keep(this.rows[i], i))) return;
      eight[waiting++] = i;
      if (waiting === 8) {
        this.offerEight(eight, q, scale, best);
        waiting = 0;
      }
    };
    if (lists) for (const list of lists) for (let c = 0; c < list.length; c++) visit(list[c]);
    else for (let i = 0; i < this.rows.length; i++) visit(i);
    for (let w = 0; w < waiting; w++) this.offerRow(eight[w], q, scale, best);
    return best.sorted().map(([i, score]) => toHit(this.rows[i], score));
  }

  /** Row `i`'s cosine with the query (`q` scaled by `scale` is the unit query), offered to `best`. */
  private offerRow(i: number, q: Float64Array, scale: number, best: TopK): void {
    const { dims, data } = this;
    let dot = 0;
    const base = i * dims;
    for (let j = 0; j < dims; j++) dot += data[base + j] * q[j];
    best.offer(i, (dot * scale) / this.rowNorms[i]);
  }

  /**
   * Eight rows' cosines with the query, offered to `best`. Each row's products are added one after
   * another in index order, as {@link offerRow} adds them (the same sums, bit for bit), but the
   * eight sums advance together: one row's sum is a chain of dependent additions, each waiting on
   * the last, and independent chains keep the processor busy while each waits. At 100× our KB the
   * code level's dot products were the largest part of a query's time; over the bench's queries'
   * candidate rows (CPU time, 100× our KB), two rows at a time took 1.23 times as long as four,
   * and four 1.2 times as long as eight.
   */
  private offerEight(rows: Int32Array, q: Float64Array, scale: number, best: TopK): void {
    const { dims, data, rowNorms } = this;
    const b0 = rows[0] * dims;
    const b1 = rows[1] * dims;
    const b2 = rows[2] * dims;
    const b3 = rows[3] * dims;
    const b4 = rows[4] * dims;
    const b5 = rows[5] * dims;
    const b6 = rows[6] * dims;
    const b7 = rows[7] * dims;
    let d0 = 0;
    let d1 = 0;
    let d2 = 0;
    let d3 = 0;
    let d4 = 0;
    let d5 = 0;
    let d6 = 0;
    let d7 = 0;
    for (let j = 0; j < dims; j++) {
      const x = q[j];
      d0 += data[b0 + j] * x;
      d1 += data[b1 + j] * x;
      d2 += data[b2 + j] * x;
      d3 += data[b3 + j] * x;
      d4 += data[b4 + j] * x;
      d5 += data[b5 + j] * x;
      d6 += data[b6 + j] * x;
      d7 += data[b7 + j] * x;
    }
    best.offer(rows[0], (d0 * scale) / rowNorms[rows[0]]);
    best.offer(rows[1], (d1 * scale) / rowNorms[rows[1]]);
    best.offer(rows[2], (d2 * scale) / rowNorms[rows[2]]);
    best.offer(rows[3], (d3 * scale) / rowNorms[rows[3]]);
    best.offer(rows[4], (d4 * scale) / rowNorms[rows[4]]);
    best.offer(rows[5], (d5 * scale) / rowNorms[rows[5]]);
    best.offer(rows[6], (d6 * scale) / rowNorms[rows[6]]);
    best.offer(rows[7], (d7 * scale) / rowNorms[rows[7]]);
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

  get full(): boolean {
    return this.items.length >= this.k;
  }

  /** The k-th best score so far (when full). */
  get last(): number {
    return this.items[this.items.length - 1][1];
  }

  /** Whether offering (row, score) now would change the top k: what {@link offer} would keep. */
  takes(row: number, score: number): boolean {
    const items = this.items;
    return this.k > 0 && (items.length < this.k || better(row, score, items[items.length - 1]));
  }

  offer(row: number, score: number): void {
    if (!this.takes(row, score)) return;
    const items = this.items;
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

/**
 * Collections up to this many rows are searched in memory; larger ones stay on the backend. At 100×
 * our KB (287k examples, 324k documents) the in-memory index answers a whole retrieval in tens of
 * milliseconds where LanceDB took most of a second, for about 0.9 GB (measured by
 * `npm run bench:retrieve`); a KB past this size belongs on Elasticsearch or LanceDB's disk.
 */
export const MEMORY_SEARCH_MAX_ROWS = 400_000;

/** What the in-memory searches load from a backend: every row of a collection, with its term fields and vectors. */
export interface RowSource {
  counts(): Promise<Record<SearchCollection, number>>;
  scan(collection: SearchCollection, fields: string[]): Promise<Record<string, unknown>[]>;
  /**
   * A text field's value of each row, by its place in `scan`'s order, read when asked: a source
   * that can (a publish's rows, whose example terms wait on disk) need not hold every row's text
   * at once while an index is built from it.
   */
  textColumn?(collection: SearchCollection, field: TextField): Promise<(row: number) => unknown>;
  /** Each row's vector, by its place in `scan`'s order, read when asked (as `textColumn`, for the same reason). */
  vectorColumn?(collection: 'nodes' | 'examples'): Promise<(row: number) => unknown>;
}

/** Each document's search terms by its number, read when asked (twice each, in order, while the postings are built). */
export type TextColumn = (doc: number) => string;

const rowOf = (r: Record<string, unknown>): MemoryRow => ({
  id: String(r.id),
  cwes: typeof r.cwes === 'string' ? r.cwes.split(' ').filter(Boolean) : typeof r.cwe === 'string' ? [r.cwe] : [],
  language: typeof r.language === 'string' ? r.language : '',
  ...(typeof r.node_id === 'string' ? { nodeId: r.node_id } : {}),
  ...(typeof r.kind === 'string' ? { kind: r.kind } : {}),
});

/** A filter as the in-memory searches apply it: the row, and its number in the collection. */
export type RowTest = (row: MemoryRow, at: number) => boolean;

/**
 * A collection's filter columns (language, kind, node, CWEs) as numbers in typed arrays, so a
 * filter tests a row by its number. Testing the row objects themselves was most of a filtered
 * search at 100× our KB: each test reads an object far from the last on the heap (the code
 * level's filter runs on every example before its dot product).
 */
export class RowColumns {
  private readonly language: Int32Array;
  private readonly kind: Int32Array;
  private readonly node: Int32Array;
  /** The row's CWEs: `cwes[cweStarts[row] .. cweStarts[row + 1])`. */
  private readonly cweStarts: Int32Array;
  private readonly cwes: Int32Array;
  private readonly languages = new Map<string, number>();
  private readonly kinds = new Map<string, number>();
  private readonly nodes = new Map<string, number>();
  private readonly cweIds = new Map<string, number>();

  constructor(rows: MemoryRow[]) {
    const id = (dict: Map<string, number>, key: string): number => {
      let found = dict.get(key);
      if (found === undefined) dict.set(key, (found = dict.size));
      return found;
    };
    const n = rows.length;
    this.language = new Int32Array(n);
    this.kind = new Int32Array(n);
    this.node = new Int32Array(n);
    this.cweStarts = new Int32Array(n + 1);
    const cwes: number[] = [];
    rows.forEach((row, i) => {
      this.language[i] = id(this.languages, row.language);
      this.kind[i] = row.kind === undefined ? -1 : id(this.kinds, row.kind);
      this.node[i] = row.nodeId === undefined ? -1 : id(this.nodes, row.nodeId);
      for (const c of row.cwes) cwes.push(id(this.cweIds, c));
      this.cweStarts[i + 1] = cwes.length;
    });
    this.cwes = Int32Array.from(cwes);
  }

  /** Per CWE (by its number here): its rows, ascending; built on the first search that names CWEs. */
  private cweRowLists?: Int32Array[];
  /** Whether some row has several CWEs (then CWEs' row lists overlap). */
  private severalCwes = false;

  /**
   * Where a search under a filter naming CWEs need look: those CWEs' rows (disjoint lists, each
   * ascending) and the test of the rest of the filter, so it visits a few CWEs' rows rather than
   * the collection's (the code level searches a query's kept CWEs among every example, and testing
   * every example was most of it at 100× our KB). Undefined when the filter names no CWE.
   */
  candidates(filter: SearchFilter | undefined, collection: SearchCollection): { lists: Int32Array[]; keep: RowTest | undefined } | undefined {
    if (filter?.cwe === undefined && filter?.cwes === undefined) return undefined;
    const lists = this.cweLists();
    // The rows of `cwe` when given (then `cwes` is still tested), else of `cwes`.
    const names = filter.cwe !== undefined ? [filter.cwe] : (filter.cwes as string[]);
    const ids = [...new Set(names.map((c) => this.cweIds.get(c)).filter((id) => id !== undefined))];
    const rest: SearchFilter = { ...filter, cwe: undefined, cwes: filter.cwe !== undefined ? filter.cwes : undefined };
    const keep = this.test(rest, collection);
    if (!this.severalCwes || ids.length <= 1) return { lists: ids.map((id) => lists[id]), keep };
    // A row of several of these CWEs is in several lists: one list, each row once.
    const all = new Int32Array(ids.reduce((sum, id) => sum + lists[id].length, 0));
    let at = 0;
    for (const id of ids) {
      all.set(lists[id], at);
      at += lists[id].length;
    }
    all.sort();
    let out = 0;
    for (let i = 0; i < all.length; i++) if (i === 0 || all[i] !== all[i - 1]) all[out++] = all[i];
    return { lists: [all.subarray(0, out)], keep };
  }

  private cweLists(): Int32Array[] {
    if (this.cweRowLists) return this.cweRowLists;
    const { cweStarts, cwes } = this;
    const sizes = new Int32Array(this.cweIds.size);
    for (let c = 0; c < cwes.length; c++) sizes[cwes[c]] += 1;
    const lists = Array.from(sizes, (size) => new Int32Array(size));
    const fill = new Int32Array(this.cweIds.size);
    for (let row = 0; row + 1 < cweStarts.length; row++) {
      for (let c = cweStarts[row]; c < cweStarts[row + 1]; c++) {
        // A row naming one CWE twice is listed once.
        const list = lists[cwes[c]];
        if (fill[cwes[c]] === 0 || list[fill[cwes[c]] - 1] !== row) list[fill[cwes[c]]++] = row;
      }
      if (cweStarts[row + 1] - cweStarts[row] > 1) this.severalCwes = true;
    }
    this.cweRowLists = lists.map((list, id) => list.subarray(0, fill[id]));
    return this.cweRowLists;
  }

  /** The same filter as the backends' `where` (and {@link predicate}), testing row numbers. */
  test(filter: SearchFilter | undefined, collection: SearchCollection): RowTest | undefined {
    if (!filter) return undefined;
    // A value no row holds gets -2: no row's number equals it (absent kinds and nodes are -1).
    const language = filter.language === undefined ? -1 : (this.languages.get(filter.language) ?? -2);
    const neutral = this.languages.get('') ?? -2;
    const nodesNeutral = collection === 'nodes';
    const kind = filter.kind === undefined ? -1 : (this.kinds.get(filter.kind) ?? -2);
    const mask = (dict: Map<string, number>, keys: string[] | undefined): Uint8Array | undefined => {
      if (keys === undefined) return undefined;
      const m = new Uint8Array(dict.size);
      for (const key of keys) {
        const at = dict.get(key);
        if (at !== undefined) m[at] = 1;
      }
      return m;
    };
    const oneCwe = mask(this.cweIds, filter.cwe === undefined ? undefined : [filter.cwe]);
    const anyCwe = mask(this.cweIds, filter.cwes);
    const nodeMask = mask(this.nodes, filter.nodeIds);
    const { language: lang, kind: kinds, node: nodes, cweStarts, cwes } = this;
    const hasCwe = (at: number, m: Uint8Array): boolean => {
      for (let c = cweStarts[at]; c < cweStarts[at + 1]; c++) if (m[cwes[c]] === 1) return true;
      return false;
    };
    return (_row, at) =>
      (filter.language === undefined || lang[at] === language || (nodesNeutral && lang[at] === neutral)) &&
      (!filter.neutral || lang[at] === neutral) &&
      (filter.kind === undefined || kinds[at] === kind) &&
      (oneCwe === undefined || hasCwe(at, oneCwe)) &&
      (anyCwe === undefined || hasCwe(at, anyCwe)) &&
      (nodeMask === undefined || (nodes[at] >= 0 && nodeMask[nodes[at]] === 1));
  }
}

/** The same filter as the backends' `where`, as a test of row objects (what {@link RowColumns.test} must agree with). */
export function predicate(filter: SearchFilter | undefined, collection: SearchCollection): RowTest | undefined {
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

/** The term fields of each collection (what text searches run on): what a snapshot of the in-memory index holds. */
export const TEXT_FIELDS: Record<SearchCollection, TextField[]> = {
  nodes: ['text', 'api_text', 'doc_terms', 'catalog_terms'],
  examples: ['api_text', 'code_text'],
  documents: ['terms'],
};

/** A collection's rows and one field's text of each, as its BM25 index reads them. */
export async function textColumnOf(source: RowSource, collection: SearchCollection, field: TextField): Promise<{ rows: MemoryRow[]; textOf: TextColumn }> {
  if (source.textColumn) {
    const rows = await source.scan(collection, ['id', ...COLUMNS[collection]]);
    const valueOf = await source.textColumn(collection, field);
    return { rows: rows.map(rowOf), textOf: (i) => String(valueOf(i) ?? '').trim() };
  }
  const rows = await source.scan(collection, ['id', ...COLUMNS[collection], field]);
  const texts = rows.map((r) => String(r[field] ?? '').trim());
  return { rows: rows.map(rowOf), textOf: (i) => texts[i] };
}

/**
 * A collection's vectors one row at a time, by their place in `scan`'s order: read when asked from
 * a source that can (a publish's, whose example vectors wait on disk), else scanned at once.
 */
export async function vectorColumnOf(source: RowSource, collection: 'nodes' | 'examples'): Promise<{ count: number; vectorOf: (row: number) => Float32Array }> {
  const float32 = (v: unknown): Float32Array => (v instanceof Float32Array ? v : Float32Array.from(v as ArrayLike<number>));
  if (source.vectorColumn) {
    const valueOf = await source.vectorColumn(collection);
    return { count: (await source.counts())[collection], vectorOf: (i) => float32(valueOf(i)) };
  }
  const rows = await source.scan(collection, ['vector']);
  return { count: rows.length, vectorOf: (i) => float32(rows[i].vector) };
}

/** A collection's BM25 index on one field, from every row of the source. */
export async function loadBm25Index(source: RowSource, collection: SearchCollection, field: TextField): Promise<Bm25Index> {
  const { rows, textOf } = await textColumnOf(source, collection, field);
  return new Bm25Index(rows, textOf);
}

/** A collection's vectors, from every row of the source. */
export async function loadVectorTable(source: RowSource, collection: 'nodes' | 'examples'): Promise<VectorTable> {
  const rows = await source.scan(collection, ['id', ...COLUMNS[collection], 'vector']);
  // A row's vector is copied only when it is not a Float32Array already (rows from memory, a
  // publish's: the table copies them once more into its own array, and at 100× our KB each copy of
  // every example's vector is over a hundred MB).
  const vectors = rows.map((r) => (r.vector instanceof Float32Array ? r.vector : Float32Array.from(r.vector as ArrayLike<number>)));
  return new VectorTable(rows.map(rowOf), vectors, vectors[0]?.length ?? 0);
}

/**
 * In-memory indexes built before (stored with a KB version: see memory-snapshot.ts), with the row
 * counts of the backend they were built from. A collection or field it lacks is loaded from the
 * backend as usual.
 */
export interface PrebuiltMemoryIndex {
  counts: Record<SearchCollection, number>;
  text(collection: SearchCollection, field: TextField): Bm25Index | undefined;
  /** A field's index as a rebuild may take from it (see {@link PostingsReuse}), when it was stored with its texts' hashes. */
  earlierPostings?(collection: SearchCollection, field: TextField): EarlierPostings | undefined;
  vectors(collection: 'nodes' | 'examples'): VectorTable | undefined;
}

/**
 * A knowledge index that answers from memory for the collections small enough to hold (a KB's
 * CWE nodes always; its examples and documents up to {@link MEMORY_SEARCH_MAX_ROWS}) and passes
 * the rest to the backend it wraps. Each collection's field is loaded on its first search, once:
 * from `prebuilt` when it holds it, else from the backend.
 */
export class MemoryKnowledgeIndex implements KnowledgeIndexReader {
  private readonly text = new Map<string, Promise<Bm25Index | undefined>>();
  private readonly vectors = new Map<string, Promise<VectorTable | undefined>>();
  private sizes?: Promise<Record<SearchCollection, number>>;

  constructor(
    private readonly backend: KnowledgeIndexReader & RowSource,
    private readonly maxRows = MEMORY_SEARCH_MAX_ROWS,
    private readonly prebuilt?: PrebuiltMemoryIndex,
  ) {}

  async searchText(collection: SearchCollection, field: TextField, query: string, k: number, filter?: SearchFilter): Promise<TextHit[]> {
    const index = await this.textIndex(collection, field);
    if (!index) return this.backend.searchText(collection, field, query, k, filter);
    const q = query
      .replace(/[^\p{L}\p{N}_\s]/gu, ' ')
      .trim()
      .replace(/\s+/g, ' ');
    return q ? index.search(q, k, index.columns.test(filter, collection)) : [];
  }

  async searchVector(collection: 'nodes' | 'examples', vector: Float32Array, k: number, filter?: SearchFilter): Promise<TextHit[]> {
    const table = await this.vectorTable(collection);
    if (!table) return this.backend.searchVector(collection, vector, k, filter);
    const under = table.columns.candidates(filter, collection);
    return under ? table.search(vector, k, under.keep, under.lists) : table.search(vector, k, table.columns.test(filter, collection));
  }

  counts(): Promise<Record<SearchCollection, number>> {
    this.sizes ??= this.prebuilt ? Promise.resolve(this.prebuilt.counts) : this.backend.counts();
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
        return this.prebuilt?.text(collection, field) ?? loadBm25Index(this.backend, collection, field);
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
        return this.prebuilt?.vectors(collection) ?? loadVectorTable(this.backend, collection);
      })();
      this.vectors.set(collection, found);
      found.catch(() => this.vectors.delete(collection));
    }
    return found;
  }
}

/** The columns each collection's rows carry for hits and filters. */
const COLUMNS: Record<SearchCollection, string[]> = { nodes: ['cwe', 'language'], examples: ['cwe', 'language', 'node_id', 'kind'], documents: ['cwes', 'language', 'kind'] };
