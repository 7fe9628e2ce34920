import { type SecurityContext, estimateTokens, fitGuidance, generationPrompt } from '@rescue/generation';

const task = { language: 'python', prompt: 'def save(path, data):\n' };
const g = (cwe: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${cwe} guideline ${i + 1}: validate and constrain the input before it reaches the sink, and fail closed.`);

describe('estimateTokens', () => {
  it('never counts fewer than one token per four characters or per word and punctuation mark', () => {
    expect(estimateTokens('')).toBe(0);
    expect(estimateTokens('a b c')).toBe(3);
    expect(estimateTokens('x'.repeat(400))).toBeGreaterThanOrEqual(100);
    expect(estimateTokens('cur.execute("SELECT * FROM t WHERE id = %s", (i,))')).toBeGreaterThanOrEqual(20);
  });
});

describe('fitGuidance', () => {
  const context: SecurityContext = {
    guidelines: g('CWE-22', 4),
    example: { language: 'python', code: 'def save(path, data):\n    base = os.path.realpath(BASE)\n' },
    more: [
      { cwe: 'CWE-73', name: 'External control of file name', guidelines: g('CWE-73', 3) },
      { cwe: 'CWE-434', name: 'Unrestricted upload', guidelines: g('CWE-434', 3) },
    ],
  };
  const cost = (c: SecurityContext): number =>
    estimateTokens(c.example?.code ?? '') +
    [...c.guidelines, ...(c.more ?? []).flatMap((m) => m.guidelines)].reduce((n, l) => n + estimateTokens(`- ${l}\n`), 0) +
    (c.more ?? []).reduce((n, m) => n + estimateTokens(`### ${m.cwe} ${m.name ?? ''}\n`), 0);

  it('keeps everything under a generous budget, in rank order', () => {
    const fitted = fitGuidance(context, 10_000);
    expect(fitted.guidelines).toHaveLength(4);
    expect(fitted.more?.map((m) => m.cwe)).toEqual(['CWE-73', 'CWE-434']);
  });

  it('stays under a tight budget: the example and one primary guideline always, further CWEs only if they fit', () => {
    for (const budget of [50, 120, 200, 300, 400]) {
      const fitted = fitGuidance(context, budget);
      expect(fitted.example).toEqual(context.example);
      expect(fitted.guidelines.length).toBeGreaterThanOrEqual(1);
      if (fitted.guidelines.length > 1 || (fitted.more ?? []).length > 0) expect(cost(fitted)).toBeLessThanOrEqual(budget);
      // A later CWE never appears without the earlier ones, and none is present with no guideline.
      const cwes = (fitted.more ?? []).map((m) => m.cwe);
      expect(['CWE-73', 'CWE-434'].slice(0, cwes.length)).toEqual(cwes);
      for (const m of fitted.more ?? []) expect(m.guidelines.length).toBeGreaterThan(0);
    }
    expect(fitGuidance(context, 50).more).toEqual([]);
  });

  it('puts the further CWEs in both prompt styles, quoted as data', () => {
    const fitted = fitGuidance(context, 10_000);
    const chat = generationPrompt(task, fitted, 'chat') as { content: string }[];
    expect(chat[0].content).toMatch(
      /## Security guidelines[\s\S]*## Secure code example[\s\S]*## Other weaknesses this task may invite\n### CWE-73: External control of file name\n- CWE-73 guideline 1[\s\S]*### CWE-434[\s\S]*```\nEnd of the reference security knowledge\.\n\nComplete the following python code\./,
    );
    const completion = generationPrompt(task, fitted, 'completion') as string;
    expect(completion).toMatch(/# General security guidelines[\s\S]*# Guidelines for CWE-73 \(External control of file name\)[\s\S]*# Example[\s\S]*```python\ndef save\(path, data\):\n$/);
    // Without further CWEs the prompt is the paper's.
    expect((generationPrompt(task, { ...fitted, more: [] }, 'chat') as { content: string }[])[0].content).not.toContain('Other weaknesses');
  });
});
