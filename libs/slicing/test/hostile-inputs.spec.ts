import { randomBytes } from 'node:crypto';
import type { FixRecord, Language } from '@rescue/domain';
import { SLICE_FAILURE_CLASSES, type SliceOutcome, Slicer } from '@rescue/slicing';

// Each hostile function must come back as a classified failure, not a crash or a hang. The slicer
// runs with a small work budget (2 M steps, about 1-2 s idle) and the default wall-clock safety
// net: a hostile input must be stopped by what it is (size, depth, work), so a `timeout` (work the
// count misses) fails the test. jest's per-test timeout is the hang guard, and no test asserts a
// duration (speed is measured in `npm run bench:slice`).
const WORK = 2_000_000;

function record(language: Language, before: string, after = `${before}\n`): FixRecord {
  return {
    id: 'b'.repeat(32),
    language,
    cwe: 'CWE-20',
    before,
    after,
    changedLines: { deleted: [1], added: [1], source: 'dataset' },
    origin: { file: 'hostile', line: 1, format: 'generic' },
  };
}

function expectClassified(outcome: SliceOutcome, allowed: readonly string[]): void {
  expect(outcome.ok).toBe(false);
  if (!outcome.ok) {
    expect(SLICE_FAILURE_CLASSES).toContain(outcome.failure.failureClass);
    expect(allowed).toContain(outcome.failure.failureClass);
    expect(outcome.failure.message.length).toBeGreaterThan(0);
  }
}

describe('hostile inputs end as classified failures', () => {
  let strict: Slicer;
  let relaxed: Slicer;

  beforeAll(async () => {
    strict = await Slicer.create({ workBudget: WORK });
    // Size limits off, so the depth limit and the work budget are what must stop the work.
    relaxed = await Slicer.create({ workBudget: WORK, maxBytes: 64 << 20, maxLines: 10_000_000, maxLineLength: 64 << 20 });
  });

  it('100k nested parentheses: refused by size, and by depth or work when size limits are off', async () => {
    const deep = `def f(x):\n    y = ${'('.repeat(100_000)}x${')'.repeat(100_000)}\n    return y\n`;
    expectClassified(await strict.sliceRecord(record('python', deep)), ['too_large']);
    expectClassified(await relaxed.sliceRecord(record('python', deep)), ['too_deep', 'too_complex']);
  }, 30_000);

  it('a 5 MB function is too large', async () => {
    const body = '    x = x + 1\n'.repeat(Math.ceil((5 << 20) / 14));
    expectClassified(await strict.sliceRecord(record('python', `def f(x):\n${body}    return x\n`)), ['too_large']);
  });

  it('a 1 MB single line is too large', async () => {
    const line = `int f(void) { return ${'1+'.repeat(512 * 1024)}1; }`;
    expectClassified(await strict.sliceRecord(record('c', line)), ['too_large']);
  });

  it('random bytes do not parse', async () => {
    const noise = randomBytes(64 * 1024).toString('latin1');
    for (const language of ['c', 'python', 'javascript', 'java', 'go'] as Language[]) {
      expectClassified(await strict.sliceRecord(record(language, noise)), ['parse_error', 'too_large', 'too_complex', 'too_deep']);
    }
  }, 30_000);

  it('a deeply nested comment does not parse as a function', async () => {
    const nested = `int f(int a) {\n${'/*\n'.repeat(5000)}${'*/\n'.repeat(5000)}  return a;\n}\n`;
    expectClassified(await strict.sliceRecord(record('c', nested)), ['parse_error', 'too_complex', 'too_deep']);
  }, 30_000);

  it('keeps slicing well-formed functions after the hostile ones', async () => {
    const ok = await strict.sliceRecord(record('python', 'def f(a):\n    b = a + 1\n    return b\n', 'def f(a):\n    b = a + 2\n    return b\n'));
    expect(ok.ok).toBe(true);
  });
});
