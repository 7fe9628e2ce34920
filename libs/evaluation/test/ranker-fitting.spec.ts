import { type TaskAnalysis, fitModels, leaveOneSetOut, measure, rankTask } from '@rescue/evaluation';
import { type GateModel, countTerms, featureNames, fitGate, relevanceScore, simpleRanker } from '@rescue/retrieval';

const facets = ['examples', 'codeql'] as ('examples' | 'codeql')[];
const names = featureNames(facets);
const f = (rr: [number, number], priors: Record<string, number> = {}): number[] => names.map((n, i) => (i < 2 ? rr[i] : (priors[n] ?? 0)));

// Security tasks: the gold CWE second by the facets but with strong priors, so a prior weight helps.
const task = (set: string, i: number): TaskAnalysis => ({
  set,
  negative: false,
  gold: ['CWE-89'],
  seen: i % 2 === 0,
  candidates: [
    { cwe: 'CWE-79', features: f([1, 1]) },
    { cwe: 'CWE-89', features: f([0.5, 0.5], { platformFit: 1, observedExamples: 3, codeqlQueries: 2 }) },
  ],
  terms: ['sql', 'queri', 'user'],
});
const ordinaryTask = (i: number): TaskAnalysis => ({
  set: 'ordinary',
  negative: true,
  gold: [],
  seen: false,
  candidates: [{ cwe: 'CWE-20', features: f([i % 3 === 0 ? 1 : 0.2, 0.1]) }],
  terms: ['list', 'sort', 'number'],
});

const kb = countTerms(['sql queri user password inject sql queri', 'sql user list']);
const ordinary = Array.from({ length: 20 }, (_, i) => (i % 4 === 0 ? ['list', 'sort', 'user'] : ['list', 'sort', 'number', 'sum']));
const relevance = (terms: string[], gate: GateModel): number => relevanceScore(terms, kb, gate);
const input = { facets, depth: 20, ordinary, ordinaryAnalyses: Array.from({ length: 30 }, (_, i) => ordinaryTask(i)), agreementFired: 0.03, kb, relevance };

describe('fitting the ranker and the gate', () => {
  it('fits a prior weight that puts gold first, a gate that passes security tasks and stops ordinary ones, and an agreement bar from ordinary tasks', () => {
    const all = [...Array.from({ length: 6 }, (_, i) => task('a', i)), ...Array.from({ length: 6 }, (_, i) => task('b', i))];
    const { ranker, gate } = fitModels(all, input, 'test');
    expect(ranker.weights[names.indexOf('platformFit')]).toBeGreaterThan(0);
    expect(rankTask(all[0], ranker, gate, relevance)).toEqual({ ranked: ['CWE-89', 'CWE-79'], abstained: false });
    expect(rankTask(ordinaryTask(1), ranker, gate, relevance).abstained).toBe(true);
    // The agreement bar is what few ordinary tasks reach: a third of them rank their CWE first in one facet.
    expect(ranker.keepAgreement).toBeCloseTo(1.1);
    const m = measure(all, ranker, gate, relevance);
    expect(m.all).toMatchObject({ tasks: 12, hitAt1: 1, mrr: 1 });
    expect(m.seen.tasks).toBe(6);
    expect(m.fired).toBe(1);
  });

  it('leaves each set out in turn: its numbers come from models fitted on the others', () => {
    const all = [...Array.from({ length: 4 }, (_, i) => task('a', i)), ...Array.from({ length: 4 }, (_, i) => task('b', i)), ordinaryTask(1), ordinaryTask(2)];
    const held = leaveOneSetOut(all, input);
    expect(held.map((h) => [h.held, h.negative])).toEqual([
      ['a', false],
      ['b', false],
      ['ordinary', true],
    ]);
    expect(held[0].all.hitAt1).toBe(1);
    expect(held[2].fired).toBe(0);
    expect(held[0].ungated?.hitAt1).toBe(1);
  });

  it('sets the gate threshold out of fold, so the share of ordinary tasks let through is the one asked for', () => {
    const mixed = Array.from({ length: 50 }, (_, i) => (i % 10 === 0 ? ['sql', 'queri', 'list'] : ['list', 'sort', 'number']));
    const gate = fitGate(mixed, kb, { ordinaryFired: 0.1, smoothing: 0.5, vocabulary: 1000, topTerms: 3, folds: 5 });
    const fired = mixed.filter((t) => relevanceScore(t, kb, gate) >= gate.threshold).length / mixed.length;
    expect(fired).toBeGreaterThanOrEqual(0.1);
    expect(fired).toBeLessThanOrEqual(0.2);
    expect(gate.fittedOn).toMatch(/50 ordinary tasks; threshold: 10% of them fire/);
  });

  it('never fits the ranker on ordinary tasks or tasks without gold', () => {
    const only = fitModels([ordinaryTask(0), ordinaryTask(1)], input, 'nothing to learn');
    expect(only.ranker).toEqual({ ...simpleRanker(facets, 20, 0, 'nothing to learn; prior weight 0'), keepAgreement: only.ranker.keepAgreement });
  });
});
