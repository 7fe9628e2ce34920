import { InvalidInputError } from '@rescue/domain';

/** Term counts of a body of text: the KB's (stored with each version) or ordinary programming tasks' (in the gate model). */
export interface TermCounts {
  total: number;
  counts: Record<string, number>;
}

/**
 * Whether a task is about security at all, decided before any guidance is given: how much more
 * likely the task's most telling words are in the KB's text than in ordinary programming tasks.
 * The score is the mean of the `topTerms` largest per-term log-likelihood ratios (additively
 * smoothed), so a few words like "password", "query" or "upload" speak for the task while the
 * words every task shares cancel out. Below `threshold`, retrieval abstains.
 */
export interface GateModel {
  format: 'rescue-gate-1';
  ordinary: TermCounts;
  smoothing: number;
  vocabulary: number;
  topTerms: number;
  threshold: number;
  fittedOn: string;
}

export function validateGate(value: unknown, where: string): GateModel {
  const g = value as GateModel;
  if (!g || g.format !== 'rescue-gate-1' || typeof g.threshold !== 'number' || !g.ordinary || typeof g.ordinary.total !== 'number') throw new InvalidInputError(`${where} is not a Rescue relevance gate (format rescue-gate-1)`);
  return g;
}

/** Counts terms (each occurrence) over texts already turned into search terms. */
export function countTerms(termTexts: Iterable<string>, keep = 60_000): TermCounts {
  const counts = new Map<string, number>();
  let total = 0;
  for (const text of termTexts) {
    for (const t of text.split(' ')) {
      if (!t) continue;
      counts.set(t, (counts.get(t) ?? 0) + 1);
      total += 1;
    }
  }
  // Rare terms weigh nothing against the smoothing; keeping the most frequent bounds the file.
  const kept = [...counts.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, keep);
  const out: Record<string, number> = Object.create(null) as Record<string, number>;
  for (const [t, c] of kept.sort((a, b) => (a[0] < b[0] ? -1 : 1))) out[t] = c;
  return { total, counts: out };
}

const countOf = (c: TermCounts, t: string): number => (Object.hasOwn(c.counts, t) ? c.counts[t] : 0);

/** The relevance score of a query's terms (see {@link GateModel}). */
export function relevanceScore(queryTerms: string[], kb: TermCounts, gate: Omit<GateModel, 'threshold' | 'fittedOn' | 'format'>): number {
  const unique = [...new Set(queryTerms)];
  if (unique.length === 0) return -Infinity;
  const a = gate.smoothing;
  const v = gate.vocabulary;
  const ratios = unique.map((t) => Math.log((countOf(kb, t) + a) / (kb.total + a * v)) - Math.log((countOf(gate.ordinary, t) + a) / (gate.ordinary.total + a * v)));
  ratios.sort((x, y) => y - x);
  let sum = 0;
  for (let i = 0; i < Math.min(gate.topTerms, ratios.length); i++) sum += ratios[i];
  // Divided by topTerms, not by how many there are: a two-word task has less to say than a sentence.
  return sum / gate.topTerms;
}
