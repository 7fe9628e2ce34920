import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  DEFAULT_GATE_FIT,
  type GateFitOptions,
  type GateModel,
  type GateShape,
  LEXICAL_GATE_SHAPE,
  type TermCounts,
  countTerms,
  fitGate,
  fitGates,
  gateScore,
  ordinaryTaskTerms,
  relevanceScore,
  searchTerms,
  validateGate,
} from '@rescue/retrieval';

/**
 * fitGate counts each fold once and sums the other folds' counts; the gate must be the one its
 * definition gives: every fold's ordinary counts recounted from its tasks' texts (countTerms),
 * each task scored out of fold (its length corrected by the shape, its agreement at the shape's
 * centre), the threshold the `ordinaryFired` quantile. This is that definition written the plain
 * way, to compare against.
 */
function referenceFit(ordinary: string[][], kb: TermCounts, options: GateFitOptions = DEFAULT_GATE_FIT, shape: GateShape = LEXICAL_GATE_SHAPE): GateModel {
  const gateOf = (tasks: string[][], threshold: number): GateModel => ({
    format: 'rescue-gate-2',
    ordinary: countTerms(
      tasks.map((t) => t.join(' ')),
      20_000,
    ),
    smoothing: options.smoothing,
    vocabulary: options.vocabulary,
    topTerms: options.topTerms,
    shape,
    threshold,
    fittedOn: `${ordinary.length} ordinary tasks; threshold: ${Math.round(options.ordinaryFired * 1000) / 10}% of them fire (out of fold)`,
  });
  const scores: number[] = [];
  for (let fold = 0; fold < options.folds; fold++) {
    const gate = gateOf(
      ordinary.filter((_, i) => i % options.folds !== fold),
      -Infinity,
    );
    ordinary.forEach((t, i) => {
      if (i % options.folds === fold) scores.push(gateScore(relevanceScore(t, kb, gate), new Set(t).size, shape.agreementCenter, shape));
    });
  }
  const sorted = [...scores].sort((a, b) => a - b);
  const q = sorted.length === 0 ? -Infinity : sorted[Math.min(sorted.length - 1, Math.max(0, Math.floor((1 - options.ordinaryFired) * (sorted.length - 1))))];
  return gateOf(ordinary, Math.round(q * 1e6) / 1e6);
}

/** Same fields, same values, and the same key order (a calibration file stores the gate as JSON). */
function expectSameGate(actual: GateModel, expected: GateModel): void {
  expect(actual).toEqual(expected);
  expect(Object.keys(actual.ordinary.counts)).toEqual(Object.keys(expected.ordinary.counts));
  expect(JSON.stringify(actual)).toBe(JSON.stringify(expected));
}

// A KB's vocabulary: the search terms of our example CWE catalogue (descriptions, mitigations).
const catalog = readFileSync(join(__dirname, '../../../examples/cwe-catalog-sample.csv'), 'utf8');
const kb = countTerms(catalog.split('\n').map((line) => searchTerms(line).join(' ')));

describe('fitGate', () => {
  const ordinary = ordinaryTaskTerms();

  it('fits on our ordinary-task fixtures the gate its definition gives', () => {
    expect(ordinary.length).toBeGreaterThan(100);
    const gate = fitGate(ordinary, kb, DEFAULT_GATE_FIT, LEXICAL_GATE_SHAPE);
    expectSameGate(gate, referenceFit(ordinary, kb));
    expect(Number.isFinite(gate.threshold)).toBe(true);
  });

  it.each([1, 3, 7])('gives the same gate with %i folds', (folds) => {
    const options = { ...DEFAULT_GATE_FIT, folds, ordinaryFired: 0.2 };
    expectSameGate(fitGate(ordinary, kb, options, LEXICAL_GATE_SHAPE), referenceFit(ordinary, kb, options));
  });

  it('without folds, still counts every task in the gate (threshold -Infinity: nothing scored)', () => {
    const options = { ...DEFAULT_GATE_FIT, folds: 0 };
    const gate = fitGate(ordinary, kb, options, LEXICAL_GATE_SHAPE);
    expectSameGate(gate, referenceFit(ordinary, kb, options));
    expect(gate.ordinary.total).toBe(ordinary.reduce((n, t) => n + t.length, 0));
  });

  it('cuts an ordinary vocabulary over 20,000 terms to the same most frequent ones (ties by term)', () => {
    // 30,000 distinct terms, each in two neighbouring tasks (different folds, so a task's terms
    // are all counted out of its fold, and the cut decides whether that count is 1 or 0) and a
    // few more times at random (many ties at the cut); plus terms holding a space and empty ones,
    // which a joined text counts as its words and skips.
    let seed = 7;
    const next = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    const tasks: string[][] = Array.from({ length: 600 }, () => []);
    for (let term = 0; term < 30_000; term++) {
      const name = `t${term.toString(36)}`;
      tasks[term % tasks.length].push(name);
      tasks[(term + 1) % tasks.length].push(name);
      for (let k = next() % 3; k > 0; k--) tasks[next() % tasks.length].push(name);
    }
    tasks[3].push('sql query', '', 'password');
    const gate = fitGate(tasks, kb, DEFAULT_GATE_FIT, LEXICAL_GATE_SHAPE);
    expect(gate.ordinary.complete).toBe(false);
    expect(Object.keys(gate.ordinary.counts)).toHaveLength(20_000);
    expectSameGate(gate, referenceFit(tasks, kb));
  });

  it('with a shape, sets the threshold on length-corrected scores, each shape as fitted alone', () => {
    const shapes: GateShape[] = [
      { lengthWeight: 1.5, agreementWeight: 0.3, agreementCenter: 2.7 },
      { lengthWeight: 0.5, agreementWeight: 0, agreementCenter: 0 },
    ];
    const gates = fitGates(ordinary, kb, DEFAULT_GATE_FIT, shapes);
    shapes.forEach((shape, i) => expectSameGate(gates[i], referenceFit(ordinary, kb, DEFAULT_GATE_FIT, shape)));
    // A longer task needs telling words to pass; agreement above the centre counts for it.
    expect(gateScore(2, 30, 2.7, shapes[0])).toBeLessThan(gateScore(2, 5, 2.7, shapes[0]));
    expect(gateScore(2, 5, 4.7, shapes[0])).toBeCloseTo(gateScore(2, 5, 2.7, shapes[0]) + 0.6);
  });
});

describe('validateGate', () => {
  const gate = fitGate(ordinaryTaskTerms().slice(0, 50), kb, DEFAULT_GATE_FIT, { lengthWeight: 1, agreementWeight: 0.2, agreementCenter: 2 });

  it('reads a gate of an earlier format as the lexical gate it was', () => {
    const { shape: _shape, ...rest } = gate;
    expect(validateGate({ ...rest, format: 'rescue-gate-1' }, 'old.json')).toEqual({ ...rest, format: 'rescue-gate-2', shape: LEXICAL_GATE_SHAPE });
  });

  it('refuses a gate without a usable shape, naming the file', () => {
    expect(() => validateGate({ ...gate, shape: { lengthWeight: 'x' } }, 'cal.json (gate)')).toThrow(/cal\.json \(gate\): shape must hold finite/);
    expect(() => validateGate({ ...gate, format: 'other' }, 'cal.json')).toThrow(/not a Rescue relevance gate/);
  });
});
