/**
 * A facet's threshold from where the right answers score: the `quantile` of the scores the gold
 * item gets in that facet (when it is ranked there at all). With quantile 0.05 the threshold keeps
 * 95% of the facet's true matches and cuts the weaker tail where noise lives. With fewer than
 * `minSamples` gold scores the facet keeps threshold 0 (no evidence to cut on).
 */
export function thresholdFromGoldScores(scores: number[], quantile = 0.05, minSamples = 5): number {
  if (scores.length < minSamples) return 0;
  const sorted = [...scores].sort((a, b) => a - b);
  const idx = Math.max(0, Math.min(sorted.length - 1, Math.floor(quantile * (sorted.length - 1))));
  // Strictly-above semantics in the fusion: step just below the quantile score so it still counts.
  return Math.max(0, sorted[idx] - 1e-9);
}
