import { GATE_SHAPE_GRID, MAX_NEGATIVE_FIRED, type TaskAnalysis, fitModels, leaveOneSetOut, measure, rankTask } from '@rescue/evaluation';
import { DEFAULT_GATE_FIT, type GateModel, LEXICAL_GATE_SHAPE, countTerms, featureNames, fitGate, fitGates, relevanceScore, simpleRanker } from '@rescue/retrieval';

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
const input = { facets, depth: 20, ordinary, ordinaryAnalyses: Array.from({ length: 30 }, (_, i) => ordinaryTask(i)), kb, relevance };

describe('fitting the ranker and the gate', () => {
  it('fits a prior weight that puts gold first, a gate that passes security tasks and stops ordinary ones, and an agreement centre from ordinary tasks', () => {
    const all = [...Array.from({ length: 6 }, (_, i) => task('a', i)), ...Array.from({ length: 6 }, (_, i) => task('b', i))];
    const { ranker, gate } = fitModels(all, input, 'test');
    expect(ranker.weights[names.indexOf('platformFit')]).toBeGreaterThan(0);
    expect(rankTask(all[0], ranker, gate, relevance)).toEqual({ ranked: ['CWE-89', 'CWE-79'], abstained: false });
    expect(rankTask(ordinaryTask(1), ranker, gate, relevance).abstained).toBe(true);
    // The agreement centre is what ordinary tasks reach: two thirds of them agree 0.3 (a third 1.1).
    expect(gate.shape.agreementCenter).toBeCloseTo(0.3);
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
    const gate = fitGate(mixed, kb, { ordinaryFired: 0.1, smoothing: 0.5, vocabulary: 1000, topTerms: 3, folds: 5 }, LEXICAL_GATE_SHAPE);
    const fired = mixed.filter((t) => relevanceScore(t, kb, gate) >= gate.threshold).length / mixed.length;
    expect(fired).toBeGreaterThanOrEqual(0.1);
    expect(fired).toBeLessThanOrEqual(0.2);
    expect(gate.fittedOn).toMatch(/50 ordinary tasks; threshold: 10% of them fire/);
  });

  it('never fits the ranker on ordinary tasks or tasks without gold', () => {
    const only = fitModels([ordinaryTask(0), ordinaryTask(1)], input, 'nothing to learn');
    expect(only.ranker).toEqual(simpleRanker(facets, 20, 0, 'nothing to learn; rank exponent 1, prior weight 0'));
  });

  it('chooses the gate shape with the best training score among those that keep every training set of ordinary tasks at most 10% fired', () => {
    // Security tasks short and long, with weak and strong words; ordinary sets, short and long.
    const words = ['sql', 'queri', 'user', 'password', 'inject', 'list', 'sort', 'number', 'sum', 'read', 'print', 'file'];
    let seed = 11;
    const next = (n: number): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
    const termsOf = (length: number, from: number): string[] => [...new Set(Array.from({ length }, () => words[from + next(words.length - from)]))];
    const securityTask = (set: string, i: number): TaskAnalysis => ({ ...task(set, i), terms: [...termsOf(1 + next(8), 0), ...(i % 3 === 0 ? [`long${i}`, `extra${i}`, `more${i}`] : [])] });
    const plainTask = (set: string, i: number): TaskAnalysis => ({ ...ordinaryTask(i), set, terms: termsOf(2 + next(10), 3 + (i % 2)) });
    const all = [
      ...Array.from({ length: 20 }, (_, i) => securityTask('a', i)),
      ...Array.from({ length: 20 }, (_, i) => securityTask('b', i)),
      ...Array.from({ length: 30 }, (_, i) => plainTask('plain', i)),
    ];
    const ordinaryTerms = Array.from({ length: 40 }, (_, i) => termsOf(2 + next(12), 4 + (i % 3)));
    const fitInput = { ...input, ordinary: ordinaryTerms };
    const { ranker, gate } = fitModels(all, fitInput, 'grid');
    // The definition, the plain way: every shape of the grid, its threshold from the fixtures, scored on the training sets.
    const center = gate.shape.agreementCenter;
    const shapes = GATE_SHAPE_GRID.lengthWeight.flatMap((lengthWeight) => GATE_SHAPE_GRID.agreementWeight.map((agreementWeight) => ({ lengthWeight, agreementWeight, agreementCenter: center })));
    const judged = fitGates(ordinaryTerms, kb, DEFAULT_GATE_FIT, shapes).map((g) => {
      const on = (set: string) =>
        measure(
          all.filter((t) => t.set === set),
          ranker,
          g,
          relevance,
        );
      return { g, score: (on('a').all.hitAt4 + on('a').all.mrr + on('b').all.hitAt4 + on('b').all.mrr) / 2, fired: on('plain').fired };
    });
    const feasible = judged.filter((j) => j.fired <= MAX_NEGATIVE_FIRED);
    expect(feasible.length).toBeGreaterThan(0);
    const bestScore = Math.max(...feasible.map((j) => j.score));
    const chosen = judged.find((j) => j.g.shape.lengthWeight === gate.shape.lengthWeight && j.g.shape.agreementWeight === gate.shape.agreementWeight);
    expect(chosen?.fired).toBeLessThanOrEqual(MAX_NEGATIVE_FIRED);
    expect(chosen?.score).toBeCloseTo(bestScore, 9);
    expect(gate.threshold).toBe(chosen?.g.threshold);
    expect(gate.fittedOn).toMatch(/shape fitted on grid: length weight/);
  });
});
