import { retrievalMetrics, retrievalReport } from '@rescue/evaluation';

describe('retrieval metrics', () => {
  it('computes hit@k, MRR, coverage and abstention', () => {
    const m = retrievalMetrics([
      { gold: ['CWE-89'], ranked: ['CWE-89', 'CWE-78'], abstained: false, seen: true },
      { gold: ['CWE-22'], ranked: ['CWE-78', 'CWE-79', 'CWE-20', 'CWE-22'], abstained: false, seen: true },
      { gold: ['CWE-79'], ranked: [], abstained: true, seen: false },
      { gold: ['CWE-502'], ranked: Array.from({ length: 10 }, (_, i) => (i === 6 ? 'CWE-502' : `CWE-${i + 1}`)), abstained: false, seen: false },
    ]);
    expect(m).toEqual({ tasks: 4, coverage: 0.75, abstention: 0.25, hitAt1: 0.25, hitAt4: 0.5, hitAt10: 0.75, mrr: Math.round(((1 + 1 / 4 + 1 / 7) / 4) * 1000) / 1000 });
  });

  it('counts the tasks whose chosen example is a fix of a gold CWE, for a system that chooses examples', () => {
    const m = retrievalMetrics([
      { gold: ['CWE-89'], ranked: ['CWE-89', 'CWE-78'], abstained: false, seen: true, exampleCwe: 'CWE-89' },
      { gold: ['CWE-22', 'CWE-23'], ranked: ['CWE-78', 'CWE-23'], abstained: false, seen: true, exampleCwe: 'CWE-23' },
      { gold: ['CWE-79'], ranked: ['CWE-79', 'CWE-80'], abstained: false, seen: true, exampleCwe: 'CWE-80' },
      { gold: ['CWE-502'], ranked: ['CWE-502'], abstained: false, seen: true, exampleCwe: null },
      { gold: ['CWE-20'], ranked: [], abstained: true, seen: true, exampleCwe: null },
    ]);
    expect(m.exampleHit).toBe(0.4);
    // A system without examples (a naive baseline) has no such figure.
    expect(retrievalMetrics([{ gold: ['CWE-89'], ranked: ['CWE-89'], abstained: false, seen: true }])).not.toHaveProperty('exampleHit');
  });

  it('splits by seen and unseen', () => {
    const r = retrievalReport([
      { gold: ['CWE-89'], ranked: ['CWE-89'], abstained: false, seen: true },
      { gold: ['CWE-1336'], ranked: ['CWE-94'], abstained: false, seen: false },
    ]);
    expect(r.seen.hitAt1).toBe(1);
    expect(r.unseen.hitAt1).toBe(0);
    expect(r.all.tasks).toBe(2);
  });
});
