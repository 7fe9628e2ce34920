import { diffChangedLines, fixRecordId } from '@rescue/datasets';
import type { FixRecord } from '@rescue/domain';
import { DEFAULT_LIMITS, ParserRegistry, type SliceOutcome, Slicer, WorkMeter, isLasting } from '@rescue/slicing';
import { matchesInOrder } from '../src/syntax-queries';

// The work budget must decide a record's outcome from the record alone: the same steps whatever the
// parser did before, whatever the clock says. A slow machine is simulated by a clock that jumps at
// every reading (no real load, so the test is as fast and as deterministic as the slicer itself).

function record(before: string, after: string): FixRecord {
  return {
    id: fixRecordId('python', 'CWE-89', before, after),
    language: 'python',
    cwe: 'CWE-89',
    before,
    after,
    changedLines: { ...diffChangedLines(before, after), source: 'diff' },
    origin: { file: 'work-meter.spec', line: 1, format: 'generic' },
  };
}

const body = (n: number): string => Array.from({ length: n }, (_, i) => `    v${i} = cursor.fetch(v${Math.max(0, i - 1)}, name)  # step ${i}`).join('\n');
const before = `def find(cursor, name):\n    v0 = name\n${body(120)}\n    return cursor.execute("SELECT * FROM t WHERE n = '" + name + "'")\n`;
const after = `def find(cursor, name):\n    v0 = name\n${body(120)}\n    return cursor.execute("SELECT * FROM t WHERE n = %s", (name,))\n`;
const RECORD = record(before, after);

/** Runs `fn` with performance.now() running `msPerRead` ahead at every reading. */
async function onSlowClock<T>(msPerRead: number, fn: () => Promise<T>): Promise<{ value: T; reads: number }> {
  const real = performance.now.bind(performance);
  let skew = 0;
  let reads = 0;
  const spy = jest.spyOn(performance, 'now').mockImplementation(() => {
    reads += 1;
    skew += msPerRead;
    return real() + skew;
  });
  try {
    return { value: await fn(), reads };
  } finally {
    spy.mockRestore();
  }
}

const withoutWork = (o: SliceOutcome): unknown => (o.ok ? o.slice : o.failure);

describe('the work meter', () => {
  it('charges a parse and a query the same steps whatever the parser and the query cursor did before', async () => {
    const code = `int f(int a) {\n${'  a = g(a) + 1; // c\n'.repeat(300)}  return a;\n}\n`;
    const warmUp = (n: number): string => `int h(void) {\n${'  x(1);\n'.repeat(n)}}\n`;
    const charged: number[][] = [];
    for (const n of [0, 1, 7, 33, 111]) {
      const registry = await ParserRegistry.create();
      const queries = await registry.queries('c');
      if (n > 0) {
        const t = await registry.parse('c', warmUp(n), DEFAULT_LIMITS);
        matchesInOrder(queries.calls, t.rootNode, ['call'], new WorkMeter(1e12, 1e9));
        t.delete();
      }
      const meter = new WorkMeter(1e12, 1e9);
      const tree = await registry.parse('c', code, DEFAULT_LIMITS, meter);
      const afterParse = meter.used;
      matchesInOrder(queries.calls, tree.rootNode, ['call'], meter);
      charged.push([afterParse, meter.used]);
      tree.delete();
    }
    expect(charged[0][0]).toBeGreaterThan(0);
    expect(charged[0][1]).toBeGreaterThan(charged[0][0]);
    for (const c of charged) expect(c).toEqual(charged[0]);
  });

  it('gives a record the same outcome and the same work on a clock 200 ms ahead at every reading', async () => {
    const idle = await (await Slicer.create()).sliceRecord(RECORD, 2);
    expect(idle.ok).toBe(true);
    // The old 2 s deadline would have passed after ten readings; the 60 s safety net needs 300.
    const slow = await onSlowClock(200, async () => (await Slicer.create()).sliceRecord(RECORD, 2));
    expect(slow.reads).toBeGreaterThan(10);
    expect(withoutWork(slow.value)).toEqual(withoutWork(idle));
    expect(slow.value.work).toBe(idle.work);
  });

  it('fails a record past its budget as too_complex, at the same step on every run, and the same record within it is sliced', async () => {
    const measured = await (await Slicer.create()).sliceRecord(RECORD, 2);
    expect(measured.ok).toBe(true);
    const justUnder = await (await Slicer.create({ workBudget: measured.work })).sliceRecord(RECORD, 2);
    expect(withoutWork(justUnder)).toEqual(withoutWork(measured));
    const over = await Slicer.create({ workBudget: measured.work - 1 });
    const outcomes = [await over.sliceRecord(RECORD, 2), await over.sliceRecord(RECORD, 2)];
    for (const o of outcomes) {
      expect(o.ok).toBe(false);
      if (!o.ok) {
        expect(o.failure.failureClass).toBe('too_complex');
        expect(isLasting(o.failure.failureClass)).toBe(true);
      }
    }
    expect(outcomes[1]).toEqual(outcomes[0]);
  });

  it('lets the wall-clock safety net fire only as a timeout, which is not lasting', async () => {
    const { value } = await onSlowClock(61_000, async () => (await Slicer.create()).sliceRecord(RECORD, 2));
    expect(value.ok).toBe(false);
    if (!value.ok) {
      expect(value.failure.failureClass).toBe('timeout');
      expect(value.failure.message).toMatch(/safety net/);
      expect(isLasting(value.failure.failureClass)).toBe(false);
    }
  });
});
