import type { CweId, FixRecord } from '@rescue/domain';
import { InvalidInputError } from '@rescue/domain';
import { DEFAULT_LLM_DISTILLER, chunk, llmDistiller, recursiveSummarize } from '@rescue/knowledge';
import type { Llm } from '@rescue/llm';

describe('recursiveSummarize (paper Algorithm 1)', () => {
  it('summarizes each leaf, then merges batches of b until one remains', async () => {
    const leafCalls: number[][] = [];
    const mergeCalls: string[][] = [];
    const leaves = chunk(
      Array.from({ length: 23 }, (_, i) => i),
      10,
    );
    const result = await recursiveSummarize(
      leaves,
      { batchSize: 10, concurrency: 3 },
      async (batch) => {
        leafCalls.push(batch);
        return `L(${batch[0]}-${batch[batch.length - 1]})`;
      },
      async (batch) => {
        mergeCalls.push(batch);
        return `M[${batch.join(',')}]`;
      },
    );
    expect(leafCalls.map((b) => b.length)).toEqual([10, 10, 3]);
    expect(mergeCalls).toEqual([['L(0-9)', 'L(10-19)', 'L(20-22)']]);
    expect(result).toBe('M[L(0-9),L(10-19),L(20-22)]');
  });

  it('needs several merge levels when the leaves exceed b, and a lone batch goes up unmerged', async () => {
    const merged: number[] = [];
    const out = await recursiveSummarize(
      Array.from({ length: 250 }, (_, i) => i),
      { batchSize: 10, concurrency: 4 },
      async (x) => x,
      async (b) => {
        merged.push(b.length);
        return b.reduce((x, y) => x + y, 0);
      },
    );
    expect(out).toBe((249 * 250) / 2);
    // 250 leaves → 25 merges → 3 merges (10, 10, 5) → 1 merge.
    expect(merged).toHaveLength(29);
    // 11 leaves at b = 10: one merge of 10, the 11th passes up alone, then one merge of 2.
    const levels: number[][] = [];
    await recursiveSummarize(
      Array.from({ length: 11 }, (_, i) => i),
      { batchSize: 10, concurrency: 1 },
      async (x) => x,
      async (b) => {
        levels.push(b);
        return -1;
      },
    );
    expect(levels).toEqual([
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
      [-1, 10],
    ]);
  });

  it('a single leaf is the summary (no merge call)', async () => {
    const merge = jest.fn();
    expect(await recursiveSummarize([[1, 2, 3]], { batchSize: 10, concurrency: 1 }, async (b) => b.join('+'), merge)).toBe('1+2+3');
    expect(merge).not.toHaveBeenCalled();
  });

  it('keeps input order and never has more than `concurrency` calls in flight', async () => {
    let inFlight = 0;
    let peak = 0;
    const seen: number[][] = [];
    const out = await recursiveSummarize(
      Array.from({ length: 20 }, (_, i) => i),
      { batchSize: 4, concurrency: 3 },
      async (x) => {
        inFlight += 1;
        peak = Math.max(peak, inFlight);
        await new Promise((r) => setTimeout(r, 1 + (x % 3)));
        inFlight -= 1;
        return [x];
      },
      async (batch) => {
        seen.push(batch.flat());
        return batch.flat();
      },
    );
    expect(out).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(seen[0]).toEqual([0, 1, 2, 3]);
    expect(peak).toBe(3);
  });

  it('refuses nothing to summarize, and treats b < 2 as 2 (a level of batches of one would never shrink)', async () => {
    await expect(
      recursiveSummarize(
        [],
        { batchSize: 10, concurrency: 1 },
        async (x) => x,
        async (b) => b[0],
      ),
    ).rejects.toThrow(InvalidInputError);
    const merges: number[][] = [];
    await recursiveSummarize(
      [1, 2, 3],
      { batchSize: 1, concurrency: 0 },
      async (x) => x,
      async (b) => {
        merges.push(b);
        return 0;
      },
    );
    expect(merges).toEqual([
      [1, 2],
      [0, 3],
    ]);
  });

  it('chunk cuts in order, the last batch shorter', () => {
    expect(chunk([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
  });
});

describe('llmDistiller runs Algorithm 1 for guidelines and causes', () => {
  const record = (i: number): FixRecord => ({
    id: `${i}`.padStart(32, '0'),
    language: 'python',
    cwe: 'CWE-89' as CweId,
    before: `def f${i}(db, x):\n    db.execute("SELECT %s" % x)\n`,
    after: `def f${i}(db, x):\n    db.execute("SELECT ?", (x,))\n`,
    changedLines: { deleted: [2], added: [2], source: 'dataset' },
    origin: { file: 'a.jsonl', line: i, format: 'generic' },
  });

  it('extracts guidelines over batches of b cases and causes per function, each merged level by level', async () => {
    const calls: { template: string; size: number }[] = [];
    const llm = {
      run: async (template: { id: string }, input: { cases?: unknown[]; lists?: string[][]; causes?: string[] }) => {
        calls.push({ template: template.id, size: (input.cases ?? input.lists ?? input.causes ?? [input]).length });
        if (template.id.startsWith('guideline')) return { value: { guidelines: [`${template.id} ${calls.length}`] } };
        return { value: { cause: `${template.id} ${calls.length}` } };
      },
    } as unknown as Llm;
    const out = await llmDistiller(llm, { ...DEFAULT_LLM_DISTILLER, batchSize: 2, concurrency: 1, model: 'm' }).distill('CWE-89' as CweId, [1, 2, 3, 4, 5].map(record), undefined);
    // Guidelines: 5 cases → leaves of 2, 2, 1 → merge (2), the third passes up → merge (2).
    // Causes: 5 analyses → merges (2, 2), the fifth passes up → merge (2), the third passes up → merge (2).
    // The two trees share the distiller's slots, so their calls interleave: compare per tree, in order.
    const of = (prefix: string) => calls.filter((c) => c.template.startsWith(prefix));
    expect(of('guideline')).toEqual([
      { template: 'guideline-extract', size: 2 },
      { template: 'guideline-extract', size: 2 },
      { template: 'guideline-extract', size: 1 },
      { template: 'guideline-merge', size: 2 },
      { template: 'guideline-merge', size: 2 },
    ]);
    expect(of('cause')).toEqual([
      ...[1, 2, 3, 4, 5].map(() => ({ template: 'cause-analysis', size: 1 })),
      { template: 'cause-merge', size: 2 },
      { template: 'cause-merge', size: 2 },
      { template: 'cause-merge', size: 2 },
      { template: 'cause-merge', size: 2 },
    ]);
    // Each root is the last call of its tree.
    expect(out.guidelines).toEqual([`guideline-merge ${calls.map((c) => c.template).lastIndexOf('guideline-merge') + 1}`]);
    expect(out.cause).toBe(`cause-merge ${calls.map((c) => c.template).lastIndexOf('cause-merge') + 1}`);
    expect(out.provenance).toMatchObject({ mode: 'llm', model: 'm' });
  });
});
