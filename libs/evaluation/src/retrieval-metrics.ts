/** One task's retrieval outcome against its gold CWEs. */
export interface RetrievalOutcome {
  gold: string[];
  /** CWE ids retrieved, best first (empty when abstained). */
  ranked: string[];
  abstained: boolean;
  /** Whether the gold CWE has fix data in the KB (seen) or only a catalogue node, or none (unseen). */
  seen: boolean;
  /**
   * The CWE of the secure example chosen for the prompt, null when none was; absent for a system
   * that chooses no example (the naive baselines).
   */
  exampleCwe?: string | null;
}

export interface RetrievalMetrics {
  tasks: number;
  /** Share of tasks for which retrieval returned something. */
  coverage: number;
  abstention: number;
  hitAt1: number;
  hitAt4: number;
  hitAt10: number;
  /** Mean reciprocal rank of the first gold CWE (0 when absent). */
  mrr: number;
  /**
   * Share of tasks whose chosen example is a fix of a gold CWE (none chosen counts as a miss): the
   * code level's half of the prompt, which the CWE ranks alone do not measure. Only for a system
   * that chooses examples.
   */
  exampleHit?: number;
}

const round = (x: number): number => Math.round(x * 1000) / 1000;

/** hit@k, MRR, coverage and abstention over a set of outcomes. */
export function retrievalMetrics(outcomes: RetrievalOutcome[]): RetrievalMetrics {
  const n = outcomes.length;
  if (n === 0) return { tasks: 0, coverage: 0, abstention: 0, hitAt1: 0, hitAt4: 0, hitAt10: 0, mrr: 0 };
  const firstHit = outcomes.map((o) => {
    const i = o.ranked.findIndex((c) => o.gold.includes(c));
    return i === -1 ? Infinity : i + 1;
  });
  const hit = (k: number): number => round(firstHit.filter((r) => r <= k).length / n);
  return {
    tasks: n,
    coverage: round(outcomes.filter((o) => !o.abstained).length / n),
    abstention: round(outcomes.filter((o) => o.abstained).length / n),
    hitAt1: hit(1),
    hitAt4: hit(4),
    hitAt10: hit(10),
    mrr: round(firstHit.reduce((s, r) => s + (Number.isFinite(r) ? 1 / r : 0), 0) / n),
    ...(outcomes.some((o) => o.exampleCwe !== undefined) ? { exampleHit: round(outcomes.filter((o) => typeof o.exampleCwe === 'string' && o.gold.includes(o.exampleCwe)).length / n) } : {}),
  };
}

/** Metrics overall and split by whether the gold CWE was seen in the KB's fix data. */
export function retrievalReport(outcomes: RetrievalOutcome[]): { all: RetrievalMetrics; seen: RetrievalMetrics; unseen: RetrievalMetrics } {
  return { all: retrievalMetrics(outcomes), seen: retrievalMetrics(outcomes.filter((o) => o.seen)), unseen: retrievalMetrics(outcomes.filter((o) => !o.seen)) };
}
