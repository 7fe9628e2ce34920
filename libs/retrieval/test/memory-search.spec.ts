import { Bm25Index, type MemoryRow, RowColumns, type SearchCollection, type SearchFilter, VectorTable, predicate } from '@rescue/retrieval';

// The in-memory searches skip work (idf, length norms and row norms computed once at load, one
// sweep shared by searches of one query under several filters); what they return must
// be exactly what scoring every posting and sorting every row returns. The reference below is that
// exhaustive search, written plainly: an accumulator per document in query-term order, a full sort.

function exhaustiveBm25(rows: MemoryRow[], texts: string[], query: string, k: number, keep?: (r: MemoryRow) => boolean): [string, number][] {
  const docs = texts.map((t) => t.split(' ').filter(Boolean));
  const avg = docs.reduce((a, d) => a + d.length, 0) / docs.length;
  const scores = new Map<number, number>();
  for (const term of new Set(query.split(' '))) {
    if (!term) continue;
    const df = docs.filter((d) => d.includes(term)).length;
    if (df === 0) continue;
    const idf = Math.log(1 + (docs.length - df + 0.5) / (df + 0.5));
    docs.forEach((d, i) => {
      const tf = d.filter((t) => t === term).length;
      if (tf > 0) scores.set(i, (scores.get(i) ?? 0) + (idf * tf * (1.2 + 1)) / (tf + 1.2 * (1 - 0.75 + (0.75 * d.length) / avg)));
    });
  }
  return [...scores.entries()]
    .filter(([i]) => !keep || keep(rows[i]))
    .sort((a, b) => b[1] - a[1] || a[0] - b[0])
    .slice(0, Math.max(0, k))
    .map(([i, s]) => [rows[i].id, s]);
}

/** A seeded generator, so a failure names a case that can be replayed. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

/** A corpus like a replicated KB: Zipf-ish vocabulary, and every document repeated `copies` times (ties everywhere). */
function corpus(seed: number, distinct: number, copies: number): { rows: MemoryRow[]; texts: string[] } {
  const r = rng(seed);
  const vocab = Array.from({ length: 60 }, (_, i) => `w${i}`);
  const base = Array.from({ length: distinct }, () => Array.from({ length: 1 + Math.floor(r() * 30) }, () => vocab[Math.floor(vocab.length * r() ** 2.5)]).join(' '));
  const rows: MemoryRow[] = [];
  const texts: string[] = [];
  for (let c = 0; c < copies; c++) {
    base.forEach((t, i) => {
      rows.push({ id: `d${i}#${c}`, cwes: [`CWE-${i % 7}`], language: i % 3 === 0 ? 'c' : 'python', kind: i % 4 === 0 ? 'vulnerable' : 'fix' });
      texts.push(t);
    });
  }
  return { rows, texts };
}

describe('Bm25Index', () => {
  it('returns exactly the exhaustive search: same rows, same scores, ties by row order, with filters and any k', () => {
    for (const [seed, distinct, copies] of [
      [1, 40, 1],
      [2, 120, 1],
      [3, 30, 12],
      [4, 200, 3],
    ]) {
      const { rows, texts } = corpus(seed, distinct, copies);
      const index = new Bm25Index(rows, texts);
      const r = rng(seed * 977);
      const filters: ((row: MemoryRow) => boolean)[] = [(row) => row.kind === 'fix', (row) => row.language === 'c', (row) => row.cwes.includes('CWE-3')];
      for (let i = 0; i < 40; i++) {
        const query = Array.from({ length: 1 + Math.floor(r() * 12) }, () => `w${Math.floor(r() * 70)}`).join(' ');
        const k = [0, 1, 3, 10, 50, 200][i % 6];
        const keep = i % 4 === 3 ? undefined : filters[i % 4];
        const got = index.search(query, k, keep).map((h) => [h.id, h.score]);
        expect([seed, query, k, got]).toEqual([seed, query, k, exhaustiveBm25(rows, texts, query, k, keep)]);
        // The same query again under another filter reuses the sweep: still the exhaustive answer.
        const other = filters[(i + 1) % 3];
        expect(index.search(query, 50, other).map((h) => [h.id, h.score])).toEqual(exhaustiveBm25(rows, texts, query, 50, other));
      }
    }
  });

  it("builds the same postings whether its first pass keeps every document's pairs, some, or none", () => {
    const { rows, texts } = corpus(6, 150, 2);
    const parts = (rememberPairs: number): unknown => {
      const p = new Bm25Index(rows, texts, rememberPairs).parts();
      return { ...p, termIds: [...p.termIds.keys()].map((t) => [t, p.termIds.get(t)]) };
    };
    // 0 keeps nothing (every document counted twice); 700 stops part way; the default keeps them all.
    const none = parts(0);
    expect(parts(700)).toEqual(none);
    expect(parts(Number.MAX_SAFE_INTEGER)).toEqual(none);
    expect(new Bm25Index(rows, texts).search('w1 w5 w9', 20)).toEqual(new Bm25Index(rows, texts, 0).search('w1 w5 w9', 20));
  });

  it('finds the same rows and scores whether a query has few postings for its rows or many', () => {
    // One rare term (a posting for under an eighth of the rows) and every common term (many).
    const { rows, texts: common } = corpus(5, 300, 4);
    const rare = 'zz';
    const texts = common.map((t, i) => (i % 100 === 7 ? `${t} ${rare}` : t));
    const index = new Bm25Index(rows, texts);
    for (const query of [rare, `${rare} w0`, 'w0 w1 w2 w3 w4 w5', `w3 ${rare} w1`]) {
      for (const k of [1, 20, 2000]) expect([query, k, index.search(query, k).map((h) => [h.id, h.score])]).toEqual([query, k, exhaustiveBm25(rows, texts, query, k)]);
    }
  });

  it('asks the filter only about rows that could still enter the top k', () => {
    // 500 equal rows: after the first k, a tie with a later row never displaces an earlier one.
    const rows: MemoryRow[] = Array.from({ length: 500 }, (_, i) => ({ id: `r${i}`, cwes: [], language: 'c' }));
    const index = new Bm25Index(
      rows,
      rows.map(() => 'alpha beta'),
    );
    let asked = 0;
    const hits = index.search('alpha', 3, () => {
      asked += 1;
      return true;
    });
    expect(hits.map((h) => h.id)).toEqual(['r0', 'r1', 'r2']);
    expect(asked).toBe(3);
  });

  it('carries the row a hit needs and counts its postings', () => {
    const index = new Bm25Index(
      [
        { id: 'a', cwes: ['CWE-89'], language: 'python', nodeId: 'python:CWE-89' },
        { id: 'b', cwes: ['CWE-79'], language: 'c' },
      ],
      ['sql query query', 'html'],
    );
    expect(index.search('query', 5)).toEqual([{ id: 'a', score: expect.any(Number), cwes: ['CWE-89'], language: 'python', nodeId: 'python:CWE-89' }]);
    expect(index.postings).toBe(3);
    expect(index.search('', 5)).toEqual([]);
  });

  it("holds each term's documents ascending with their counts, terms numbered in order of first use", () => {
    const texts = ['b a b', '', 'c  a', 'a b c b', 'd'];
    const { termIds, starts, docs, tfs, idfs, docNorm } = new Bm25Index(
      texts.map((_, i) => ({ id: `r${i}`, cwes: [], language: '' })),
      texts,
    ).parts();
    expect([...termIds.keys()]).toEqual(['b', 'a', 'c', 'd']);
    const postings = (term: string): [number, number][] => {
      const t = termIds.get(term) as number;
      return [...docs.subarray(starts[t], starts[t + 1])].map((d, i) => [d, tfs[starts[t] + i]]);
    };
    expect(postings('b')).toEqual([
      [0, 2],
      [3, 2],
    ]);
    expect(postings('a')).toEqual([
      [0, 1],
      [2, 1],
      [3, 1],
    ]);
    expect(postings('c')).toEqual([
      [2, 1],
      [3, 1],
    ]);
    expect(postings('d')).toEqual([[4, 1]]);
    expect(starts[termIds.size]).toBe(docs.length);
    expect(idfs[termIds.get('a') as number]).toBe(Math.log(1 + (5 - 3 + 0.5) / (3 + 0.5)));
    // Lengths 3, 0, 2, 4, 1: an average of 2.
    expect([...docNorm]).toEqual([3, 0, 2, 4, 1].map((length) => 1.2 * (1 - 0.75 + (0.75 * length) / 2)));
  });
});

describe('VectorTable', () => {
  // Rows are scored eight at a time: 234 rows pass the filter here, so two are scored alone after the eights.
  it.each([16, 19])('ranks by cosine exactly as computing each norm per query, skips zero rows, filters (%i dimensions)', (dims) => {
    const r = rng(7 + dims);
    const rows: MemoryRow[] = Array.from({ length: 300 }, (_, i) => ({ id: `v${i}`, cwes: [`CWE-${i % 5}`], language: 'python' }));
    const vectors = rows.map((_, i) => (i % 50 === 0 ? new Float32Array(dims) : Float32Array.from({ length: dims }, () => r() - 0.5)));
    // Copies tie exactly: ties go to the earlier row.
    vectors[200] = vectors[10];
    const table = new VectorTable(rows, vectors, dims);
    const query = Float32Array.from({ length: dims }, () => r() - 0.5);
    const keep = (row: MemoryRow): boolean => row.cwes[0] !== 'CWE-2';
    const expected = vectors
      .map((v, i) => {
        let dot = 0;
        let rn = 0;
        let qn = 0;
        for (let j = 0; j < dims; j++) {
          dot += v[j] * query[j];
          rn += v[j] * v[j];
          qn += query[j] * query[j];
        }
        return { i, score: rn > 0 ? (dot * (1 / Math.sqrt(qn))) / Math.sqrt(rn) : NaN };
      })
      .filter((x) => !Number.isNaN(x.score) && keep(rows[x.i]))
      .sort((a, b) => b.score - a.score || a.i - b.i)
      .slice(0, 25)
      .map((x) => [rows[x.i].id, x.score]);
    expect(table.search(query, 25, keep).map((h) => [h.id, h.score])).toEqual(expected);
    expect(table.search(new Float32Array(dims), 5)).toEqual([]);
  });
});

describe('VectorTable under CWE row lists', () => {
  it.each([
    ['one CWE a row', false],
    ['several CWEs a row', true],
  ])('answers exactly the search over every row with the filter (%s)', (_name, several) => {
    const r = rng(several ? 11 : 13);
    const dims = 24;
    const rows: MemoryRow[] = Array.from({ length: 600 }, (_, i) => ({
      id: `v${i}`,
      cwes: several && i % 3 === 0 ? [`CWE-${i % 6}`, `CWE-${(i * 7) % 6}`] : [`CWE-${Math.floor(r() * 6)}`],
      language: i % 2 === 0 ? 'c' : 'python',
      kind: i % 5 === 0 ? 'vulnerable' : 'fix',
    }));
    // Copies of a few vectors (exact ties, as in a replicated KB) and some zero rows.
    const base = Array.from({ length: 40 }, () => Float32Array.from({ length: dims }, () => r() - 0.5));
    const vectors = rows.map((_, i) => (i % 97 === 0 ? new Float32Array(dims) : base[Math.floor(r() * base.length)]));
    const table = new VectorTable(rows, vectors, dims);
    for (const filter of [{ cwes: ['CWE-1', 'CWE-4'], kind: 'fix' }, { cwe: 'CWE-2' }, { cwes: ['CWE-0', 'CWE-3', 'CWE-5', 'CWE-404'], language: 'c' }, { cwes: ['CWE-404'] }] as SearchFilter[]) {
      const query = Float32Array.from({ length: dims }, () => r() - 0.5);
      for (const k of [1, 10, 50, 1000]) {
        const under = table.columns.candidates(filter, 'examples');
        expect(under).toBeDefined();
        const got = table.search(query, k, under?.keep, under?.lists).map((h) => [h.id, h.score]);
        const want = table.search(query, k, predicate(filter, 'examples')).map((h) => [h.id, h.score]);
        expect([filter, k, got]).toEqual([filter, k, want]);
        if (!filter.cwes?.includes('CWE-404') || filter.cwes.length > 1) expect(want.length).toBeGreaterThan(0);
      }
    }
  });
});

describe('RowColumns', () => {
  it('accepts exactly the rows the row-object filter accepts, for every filter field alone and combined', () => {
    const r = rng(31);
    const languages = ['c', 'python', '', 'java'];
    const rows: MemoryRow[] = Array.from({ length: 400 }, (_, i) => {
      const language = languages[Math.floor(r() * languages.length)];
      const kind = r() < 0.2 ? undefined : r() < 0.5 ? 'fix' : 'vulnerable';
      const nodeId = r() < 0.2 ? undefined : `${language}:CWE-${Math.floor(r() * 9)}`;
      const cwes = Array.from({ length: Math.floor(r() * 3) }, () => `CWE-${Math.floor(r() * 9)}`);
      return { id: `r${i}`, cwes, language, ...(kind ? { kind } : {}), ...(nodeId ? { nodeId } : {}) };
    });
    const columns = new RowColumns(rows);
    const filters: SearchFilter[] = [
      { language: 'c' },
      { language: 'rust' },
      { neutral: true },
      { kind: 'fix' },
      { kind: 'codeql-help' },
      { cwe: 'CWE-3' },
      { cwe: 'CWE-99' },
      { cwes: ['CWE-1', 'CWE-4', 'CWE-99'] },
      { cwes: [] },
      { cwe: 'CWE-2', cwes: ['CWE-2', 'CWE-7'] },
      { kind: 'fix', cwes: ['CWE-6'] },
      { nodeIds: ['c:CWE-1', 'python:CWE-2', 'nowhere'] },
      { language: 'python', kind: 'fix', cwes: ['CWE-2', 'CWE-5'] },
      { neutral: true, cwe: 'CWE-0', nodeIds: [':CWE-0', ':CWE-1'] },
    ];
    for (const collection of ['nodes', 'examples', 'documents'] as SearchCollection[]) {
      for (const filter of filters) {
        const byObject = predicate(filter, collection);
        const byNumber = columns.test(filter, collection);
        const want = rows.map((row, i) => byObject?.(row, i));
        expect([collection, filter, rows.map((row, i) => byNumber?.(row, i))]).toEqual([collection, filter, want]);
        // Not every row fails (or passes): the comparison says something for most filters.
        if (filter.language !== 'rust' && filter.kind !== 'codeql-help' && filter.cwe !== 'CWE-99' && filter.cwes?.length !== 0) expect(want.some(Boolean)).toBe(true);
        // A filter naming CWEs: its CWEs' rows (each once, ascending in each list) under the rest
        // of the filter are exactly the rows the filter accepts.
        const under = columns.candidates(filter, collection);
        expect(under === undefined).toBe(filter.cwe === undefined && filter.cwes === undefined);
        if (under) {
          const visited = under.lists.flatMap((list) => [...list]);
          expect(new Set(visited).size).toBe(visited.length);
          for (const list of under.lists) expect([...list]).toEqual([...list].sort((a, b) => a - b));
          const passing = visited.filter((i) => !under.keep || under.keep(rows[i], i)).sort((a, b) => a - b);
          expect([collection, filter, passing]).toEqual([collection, filter, want.flatMap((ok, i) => (ok ? [i] : []))]);
        }
      }
    }
    expect(columns.test(undefined, 'examples')).toBeUndefined();
  });
});
