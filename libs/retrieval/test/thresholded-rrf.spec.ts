import { thresholdedRrf } from '@rescue/retrieval';

const hits = (...pairs: [string, number][]) => pairs.map(([id, score]) => ({ id, score }));

describe('thresholdedRrf (paper Eq. 1)', () => {
  it('sums 1/(rank + 60) over the facets where an item passes both gates', () => {
    const fused = thresholdedRrf([
      { name: 'cause', hits: hits(['a', 0.9], ['b', 0.8], ['c', 0.7]), threshold: 0.75 },
      { name: 'api', hits: hits(['b', 9], ['c', 5], ['a', 3]), threshold: 4 },
    ]);
    expect(fused.map((f) => f.id)).toEqual(['b', 'a', 'c']);
    expect(fused[0].score).toBeCloseTo(1 / 62 + 1 / 61, 12);
    expect(fused[1].score).toBeCloseTo(1 / 61, 12);
    expect(fused[2].score).toBeCloseTo(1 / 62, 12);
    expect(fused[1].facets.api).toEqual({ score: 3, rank: 3, counted: false });
  });

  it('a score at the threshold does not count (strictly above)', () => {
    expect(thresholdedRrf([{ name: 'api', hits: hits(['a', 4]), threshold: 4 }])).toEqual([]);
  });

  it('items ranked below the cap never count, however high their score', () => {
    const many = Array.from({ length: 12 }, (_, i) => [`d${i}`, 100 - i] as [string, number]);
    const fused = thresholdedRrf([{ name: 'api', hits: hits(...many), threshold: 0 }]);
    expect(fused.map((f) => f.id)).toEqual(many.slice(0, 10).map(([id]) => id));
    expect(thresholdedRrf([{ name: 'api', hits: hits(...many), threshold: 0 }], { rankCap: 3 })).toHaveLength(3);
  });

  it('abstains (empty) when nothing passes, and breaks ties by best single-facet rank', () => {
    expect(thresholdedRrf([{ name: 'cause', hits: hits(['a', 0.1]), threshold: 0.5 }])).toEqual([]);
    const tie = thresholdedRrf([
      { name: 'x', hits: hits(['p', 1], ['q', 1]), threshold: 0 },
      { name: 'y', hits: hits(['q', 1], ['p', 1]), threshold: 0 },
    ]);
    expect(tie[0].score).toBeCloseTo(tie[1].score, 12);
    expect(tie.map((t) => t.id)).toEqual(['p', 'q']);
  });
});
