import { chunk, mapLimited, recursiveSummarize } from '@rescue/knowledge';

describe('recursiveSummarize (paper Algorithm 1)', () => {
  it('summarizes in batches of b, then merges batches of b until one remains', async () => {
    const leafCalls: number[][] = [];
    const mergeCalls: string[][] = [];
    const items = Array.from({ length: 23 }, (_, i) => i);
    const result = await recursiveSummarize(
      items,
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

  it('needs several merge levels when the leaves exceed b', async () => {
    let merges = 0;
    const out = await recursiveSummarize(Array.from({ length: 250 }, (_, i) => i), { batchSize: 10, concurrency: 4 }, async (b) => b.length, async (b) => {
      merges += 1;
      return b.reduce((x, y) => x + y, 0);
    });
    expect(out).toBe(250);
    // 25 leaves → 3 merges → 1 merge.
    expect(merges).toBe(4);
  });

  it('a single batch is its own summary (no merge call)', async () => {
    const merge = jest.fn();
    expect(await recursiveSummarize([1, 2, 3], { batchSize: 10, concurrency: 1 }, async (b) => b.join('+'), merge)).toBe('1+2+3');
    expect(merge).not.toHaveBeenCalled();
  });

  it('mapLimited keeps order and never exceeds its limit', async () => {
    let inFlight = 0;
    let peak = 0;
    const out = await mapLimited(Array.from({ length: 20 }, (_, i) => i), 3, async (x) => {
      inFlight += 1;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setTimeout(r, 1 + (x % 3)));
      inFlight -= 1;
      return x * 2;
    });
    expect(out).toEqual(Array.from({ length: 20 }, (_, i) => i * 2));
    expect(peak).toBe(3);
    expect(chunk([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
  });
});
