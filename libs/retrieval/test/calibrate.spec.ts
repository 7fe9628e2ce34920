import { thresholdFromGoldScores } from '@rescue/retrieval';

describe('thresholdFromGoldScores', () => {
  it('puts the threshold just under the quantile of the gold scores', () => {
    const scores = Array.from({ length: 21 }, (_, i) => i / 20);
    const t = thresholdFromGoldScores(scores, 0.1);
    expect(t).toBeLessThan(0.1);
    expect(t).toBeGreaterThan(0.0999);
    // 90% of the gold scores stay strictly above it.
    expect(scores.filter((s) => s > t).length / scores.length).toBeGreaterThanOrEqual(0.9);
  });

  it('keeps 0 when there is too little evidence, and never goes negative', () => {
    expect(thresholdFromGoldScores([0.9, 0.8], 0.05)).toBe(0);
    expect(thresholdFromGoldScores([0, 0, 0, 0, 0, 0], 0.05)).toBe(0);
  });
});
