import {
  CWE_FACET_NAMES,
  type CweFacts,
  PRIOR_WEIGHT_GRID,
  RANK_EXPONENT_GRID,
  ancestorsOf,
  candidateFeatures,
  rankCandidates,
  countTerms,
  featureNames,
  fitRanker,
  groupByCwe,
  parseFacetNames,
  platformFit,
  relevanceScore,
  scoreCandidate,
  simpleRanker,
  validateRanker,
} from '@rescue/retrieval';

const facts = (over: Partial<CweFacts> = {}): CweFacts => ({ observedExamples: 0, topLists: 0, platforms: [], codeqlQueries: 0, fixesByLanguage: {}, ...over });

describe('facets as data', () => {
  it('validates facet names instead of silently running another search', () => {
    expect(parseFacetNames('examples, codeql,examples')).toEqual(['examples', 'codeql']);
    expect(() => parseFacetNames('bogus,examples')).toThrow(/unknown facet "bogus": the facets are examples, examples-language/);
    expect(() => parseFacetNames(' , ')).toThrow(/no facet given/);
    expect(() => parseFacetNames('constructor')).toThrow(/unknown facet/);
    expect(CWE_FACET_NAMES).toContain('cause');
  });

  it('groups hits into CWEs by their best hit plus half the second, a hit of several CWEs counting for each, other languages scaled', () => {
    const hits = [
      { id: 'a', score: 10, cwes: ['CWE-89'], language: 'java' },
      { id: 'b', score: 8, cwes: ['CWE-79', 'CWE-80'], language: 'python' },
      { id: 'c', score: 6, cwes: ['CWE-89'], language: 'python' },
      { id: 'd', score: 1, cwes: ['CWE-89'], language: 'python' },
    ];
    expect(groupByCwe(hits, 1, 'python')).toEqual([
      { cwe: 'CWE-89', score: 13 },
      { cwe: 'CWE-79', score: 8 },
      { cwe: 'CWE-80', score: 8 },
    ]);
    expect(groupByCwe(hits, 0.5, 'python').map((h) => [h.cwe, h.score])).toEqual([
      ['CWE-89', 8.5],
      ['CWE-79', 8],
      ['CWE-80', 8],
    ]);
  });
});

describe('candidate features', () => {
  it('gives each candidate its reciprocal rank per facet (0 beyond the depth) and its priors', () => {
    const rankings = [
      {
        name: 'examples' as const,
        hits: [
          { cwe: 'CWE-89', score: 9 },
          { cwe: 'CWE-79', score: 5 },
        ],
      },
      {
        name: 'codeql' as const,
        hits: [
          { cwe: 'CWE-79', score: 3 },
          { cwe: 'CWE-22', score: 2 },
          { cwe: 'CWE-89', score: 1 },
        ],
      },
    ];
    const f = candidateFeatures(
      rankings,
      (cwe) => (cwe === 'CWE-89' ? facts({ observedExamples: 3, platforms: ['Not Language-Specific'], fixesByLanguage: { python: 7 }, abstraction: 'Base' }) : undefined),
      'python',
      2,
    );
    expect(f.map((c) => c.cwe)).toEqual(['CWE-89', 'CWE-79', 'CWE-22']);
    const names = featureNames(['examples', 'codeql']);
    const of = (cwe: string, name: string): number => f.find((c) => c.cwe === cwe)!.features[names.indexOf(name)];
    expect(of('CWE-89', 'rank:examples')).toBe(1);
    expect(of('CWE-89', 'rank:codeql')).toBe(0); // third, beyond the depth of 2
    expect(of('CWE-79', 'rank:examples')).toBe(0.5);
    expect(of('CWE-89', 'fixesInLanguage')).toBeCloseTo(Math.log(8));
    expect(of('CWE-89', 'observedExamples')).toBeCloseTo(Math.log(4));
    expect(of('CWE-89', 'platformFit')).toBe(0.5);
    expect(of('CWE-22', 'platformFit')).toBe(0.5);
  });

  it('reads the catalogue platforms against the task language', () => {
    expect(platformFit(['C', 'C++'], 'python')).toBe(0);
    expect(platformFit(['C', 'C++'], 'cpp')).toBe(1);
    expect(platformFit(['Memory-Unsafe'], 'c')).toBe(1);
    expect(platformFit(['Java', 'Not Language-Specific'], 'go')).toBe(0.5);
    expect(platformFit([], 'rust')).toBe(0.5);
    expect(platformFit(['Interpreted'], 'php')).toBe(1);
  });
});

describe('the ranker', () => {
  const facets = ['examples', 'codeql'] as ('examples' | 'codeql')[];
  const names = featureNames(facets);
  const vec = (rr: number[], priors: Record<string, number> = {}): number[] => names.map((n, i) => (i < rr.length ? rr[i] : (priors[n] ?? 0)));

  it('weighs every facet at 1 and the language and prevalence priors at the chosen weight', () => {
    const m = simpleRanker(facets, 20, 0.2, 'test');
    expect(scoreCandidate(m, vec([1, 0.5], { platformFit: 1, observedExamples: 1, codeqlQueries: 2, class: 1 }))).toBeCloseTo(1.5 + 0.2 * 4);
    expect(validateRanker(m, 'x')).toEqual(m);
    // An earlier ranker's agreement bar is dropped: the gate's shape weighs agreement now.
    expect(validateRanker({ ...m, keepAgreement: 4.8 }, 'x')).toEqual(m);
    expect(() => validateRanker({ ...m, features: ['rank:examples'] }, 'model.json')).toThrow(/model.json: its features/);
    expect(() => validateRanker({ ...m, facets: ['bogus'] }, 'model.json')).toThrow(/unknown facet "bogus"/);
  });

  it('fits the prior weight on the training sets, each set counting once', () => {
    // Gold is second by the facets but has the language prior: a positive weight puts it first.
    const list = (set: string) => ({
      set,
      candidates: [
        { cwe: 'CWE-1', features: vec([1, 1]) },
        { cwe: 'CWE-2', features: vec([0.5, 0.5], { platformFit: 1, codeqlQueries: 3, observedExamples: 3 }) },
      ],
      gold: [false, true],
    });
    const fitted = fitRanker([list('a'), list('b')], facets, 20, 'test');
    const weight = fitted.weights[names.indexOf('platformFit')];
    expect(weight).toBeGreaterThan(0);
    expect(PRIOR_WEIGHT_GRID).toContain(weight);
    expect(fitted.fittedOn).toMatch(/prior weight/);
    // When the prior points away from gold, no weight is best.
    const against = (set: string) => ({
      set,
      candidates: [
        { cwe: 'CWE-1', features: vec([1, 1]) },
        { cwe: 'CWE-2', features: vec([0.5, 0.5], { platformFit: 1, codeqlQueries: 3 }) },
      ],
      gold: [true, false],
    });
    expect(fitRanker([against('a')], facets, 20, 'test').weights[names.indexOf('platformFit')]).toBe(0);
  });

  it('raises reciprocal ranks to the rank exponent, and fits it: a flatter curve lets agreement beat one first place', () => {
    // CWE-1 is first in one facet only; CWE-2 is third in both. 1 + 0 against 2/3 at exponent 1;
    // 1 against 2/sqrt(3) at 0.5.
    const one = vec([1, 0]);
    const both = vec([1 / 3, 1 / 3]);
    expect(scoreCandidate(simpleRanker(facets, 20, 0, 'test'), both)).toBeLessThan(scoreCandidate(simpleRanker(facets, 20, 0, 'test'), one));
    expect(scoreCandidate(simpleRanker(facets, 20, 0, 'test', 0.5), both)).toBeGreaterThan(scoreCandidate(simpleRanker(facets, 20, 0, 'test', 0.5), one));
    const list = (set: string) => ({
      set,
      candidates: [
        { cwe: 'CWE-1', features: one },
        { cwe: 'CWE-2', features: both },
      ],
      gold: [false, true],
    });
    const fitted = fitRanker([list('a'), list('b')], facets, 20, 'test');
    expect(fitted.rankExponent).toBeLessThan(1);
    expect(RANK_EXPONENT_GRID).toContain(fitted.rankExponent);
    expect(fitted.fittedOn).toMatch(/rank exponent/);
    expect(() => validateRanker({ ...fitted, rankExponent: 0 }, 'model.json')).toThrow(/model.json: rankExponent 0/);
    expect(() => validateRanker({ ...fitted, rankExponent: 'x' }, 'model.json')).toThrow(/rankExponent "x"/);
  });

  it('keeps one weakness per lineage in the top k: none beneath or above another kept one', () => {
    const m = simpleRanker(facets, 20, 0, 'test');
    const c = (cwe: string, rr: number, ancestors: string[] = []) => ({ cwe, features: vec([rr, 0]), ancestors });
    const candidates = [
      c('CWE-327', 1),
      c('CWE-916', 1 / 2, ['CWE-328', 'CWE-327']),
      c('CWE-89', 1 / 3),
      c('CWE-759', 1 / 4, ['CWE-916', 'CWE-328', 'CWE-327']),
      c('CWE-522', 1 / 5),
      c('CWE-312', 1 / 6),
    ];
    expect(rankCandidates(m, candidates, 4).map((r) => r.cwe)).toEqual(['CWE-327', 'CWE-89', 'CWE-522', 'CWE-312', 'CWE-916', 'CWE-759']);
    // A descendant first, then its ancestor: the ancestor follows the top k, after an unrelated weakness.
    expect(rankCandidates(m, [c('CWE-916', 1, ['CWE-328', 'CWE-327']), c('CWE-327', 1 / 2), c('CWE-522', 1 / 3)], 4).map((r) => r.cwe)).toEqual(['CWE-916', 'CWE-522', 'CWE-327']);
    // A model without the flag (fitted before it) ranks by score alone.
    const { diversifyLineage: _, ...plain } = m;
    expect(rankCandidates(plain, candidates, 4).map((r) => r.cwe)).toEqual(['CWE-327', 'CWE-916', 'CWE-89', 'CWE-759', 'CWE-522', 'CWE-312']);
  });

  it("gathers a candidate's ancestors within three ChildOf steps, nearest first, through cycles", () => {
    const parents: Record<string, string[]> = { 'CWE-759': ['CWE-916'], 'CWE-916': ['CWE-328'], 'CWE-328': ['CWE-327', 'CWE-326'], 'CWE-327': ['CWE-693'], 'CWE-693': ['CWE-759'] };
    const f = (cwe: string) => facts({ parents: parents[cwe] });
    expect(ancestorsOf('CWE-759', f)).toEqual(['CWE-916', 'CWE-328', 'CWE-327', 'CWE-326']);
    expect(ancestorsOf('CWE-327', f, 9)).toEqual(['CWE-693', 'CWE-759', 'CWE-916', 'CWE-328', 'CWE-326']);
    expect(ancestorsOf('CWE-1', () => undefined)).toEqual([]);
  });
});

describe('the relevance gate', () => {
  it('counts terms without reaching Object.prototype', () => {
    const c = countTerms(['sql query constructor', 'query toString']);
    expect(c.total).toBe(5);
    expect(c.counts.query).toBe(2);
    expect(c.counts.constructor).toBe(1);
    expect(Object.getPrototypeOf(c.counts)).toBeNull();
  });

  it('keeps the most frequent terms (ties by term) and lists them by UTF-16 code units, as `<` orders them', () => {
    // Upper before lower case, astral characters (surrogate pairs) before U+FFxx: code-unit order, not locale order.
    const words = ['b', 'B', 'a', 'é', 'e', '😀', 'ｚ', '_x', 'x_', 'Z9', 'z', 'aa', 'a0', '__proto__', 'constructor'];
    const texts = words.map((w, i) => Array.from({ length: 1 + (i % 4) }, () => w).join(' '));
    const occurrences = new Map(words.map((w, i) => [w, 1 + (i % 4)]));
    const byTerm = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
    for (const keep of [words.length, 9, 4, 1]) {
      const c = countTerms(texts, keep);
      const expected = [...occurrences.entries()]
        .sort((x, y) => y[1] - x[1] || byTerm(x[0], y[0]))
        .slice(0, keep)
        .sort((x, y) => byTerm(x[0], y[0]));
      expect(Object.entries(c.counts)).toEqual(expected);
      expect(c.complete).toBe(keep === words.length);
    }
  });

  it("scores a query by its most telling words: high when they are the KB's, low when they are ordinary", () => {
    const kb = countTerms(['sql inject queri password sanit escap html', 'sql queri password file path travers', 'list sort']);
    const ordinary = countTerms(['list sort number sum', 'list revers string number', 'sort number']);
    const gate = { ordinary, smoothing: 0.5, vocabulary: 1000, topTerms: 3 };
    const security = relevanceScore(['sql', 'queri', 'password', 'list'], kb, gate);
    const plain = relevanceScore(['list', 'sort', 'number'], kb, gate);
    expect(security).toBeGreaterThan(plain);
    expect(relevanceScore([], kb, gate)).toBe(-Infinity);
    expect(relevanceScore(['__proto__', 'constructor'], kb, gate)).toBeLessThan(security);
  });
});
