/** One facet's ranked list (best first) and the score an item must beat to count. */
export interface FacetRanking {
  name: string;
  /** Hits sorted best first; ranks are 1-based positions in this list. */
  hits: { id: string; score: number }[];
  threshold: number;
}

export interface FacetContribution {
  score: number;
  rank: number;
  /** Whether both gates passed (score above the threshold, rank within the cap). */
  counted: boolean;
}

export interface FusedItem {
  id: string;
  score: number;
  facets: Record<string, FacetContribution>;
}

export interface RrfOptions {
  /** The paper's α (Cormack et al.): 60. */
  alpha?: number;
  /** Only the first `rankCap` items of a facet may contribute (the paper: 10). */
  rankCap?: number;
}

/**
 * RESCUE's modified reciprocal rank fusion (paper Eq. 1): an item gains 1 / (rank + α) from a
 * facet only when its score there is above the facet's threshold AND its rank is within the cap.
 * Items that gain nothing are dropped, so an empty result means "abstain". Ties are broken by the
 * best single-facet rank, then by id, so the order is deterministic.
 */
export function thresholdedRrf(facets: FacetRanking[], options: RrfOptions = {}): FusedItem[] {
  const alpha = options.alpha ?? 60;
  const cap = options.rankCap ?? 10;
  const items = new Map<string, FusedItem>();
  const bestRank = new Map<string, number>();
  for (const facet of facets) {
    facet.hits.forEach((hit, i) => {
      const rank = i + 1;
      const counted = hit.score > facet.threshold && rank <= cap;
      let item = items.get(hit.id);
      if (!item) items.set(hit.id, (item = { id: hit.id, score: 0, facets: {} }));
      item.facets[facet.name] = { score: hit.score, rank, counted };
      if (counted) {
        item.score += 1 / (rank + alpha);
        bestRank.set(hit.id, Math.min(bestRank.get(hit.id) ?? Infinity, rank));
      }
    });
  }
  return [...items.values()].filter((item) => item.score > 0).sort((a, b) => b.score - a.score || (bestRank.get(a.id) as number) - (bestRank.get(b.id) as number) || (a.id < b.id ? -1 : 1));
}
