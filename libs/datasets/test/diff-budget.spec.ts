import { DIFF_COMPARISONS, diffChangedLines, parseFixPairLine } from '@rescue/datasets';

// A fix pair without changed lines is diffed at ingest. Myers' diff is quadratic in the worst case:
// two unrelated 10,000-line functions took 66 s before it was bounded. No duration is asserted
// (jest's timeout is the hang guard); what is asserted is the outcome past the bound, which
// depends on the input alone.

const fn = (prefix: string, n: number): string => `${Array.from({ length: n }, (_, i) => `${prefix}${i} = call_${prefix}(${i})`).join('\n')}\n`;

describe('diffChangedLines under its comparison budget', () => {
  it('takes two unrelated 10,000-line versions as unrelated: every line of both changed', () => {
    const before = fn('a', 10_000);
    const after = fn('b', 10_001);
    expect((10_000 + 10_001) * 2 * 10_000).toBeGreaterThan(DIFF_COMPARISONS);
    const changed = diffChangedLines(before, after);
    expect(changed.deleted).toHaveLength(10_000);
    expect(changed.added).toHaveLength(10_001);
    expect([changed.deleted[0], changed.deleted.at(-1), changed.added.at(-1)]).toEqual([1, 10_000, 10_001]);
  }, 30_000);

  it('pairs a large function with a small fix exactly, as an unbounded diff would', () => {
    const before = fn('a', 10_000);
    const after = before.replace('a5000 = call_a(5000)', 'a5000 = call_a(int(5000))');
    expect(diffChangedLines(before, after)).toEqual({ deleted: [5001], added: [5001], source: 'diff' });
  });

  it('keeps an ingest line of two huge unrelated versions, with every line changed', () => {
    const line = JSON.stringify({ language: 'python', cwe: 'CWE-20', before: fn('a', 8_000), after: fn('b', 8_000) });
    const outcome = parseFixPairLine(line, 'auto', { file: 'huge.jsonl', line: 1 });
    expect(outcome.ok && [outcome.record.changedLines.deleted.length, outcome.record.changedLines.added.length]).toEqual([8_000, 8_000]);
  }, 30_000);
});
