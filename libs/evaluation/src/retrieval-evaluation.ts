import type { CodingTask } from '@rescue/datasets';
import { type EvaluationSet, isNegativeSet } from './evaluation-sets';
import { type RetrievalMetrics, type RetrievalOutcome, retrievalMetrics } from './retrieval-metrics';

/** A retrieval system under evaluation: CWEs for a task, best first, or an abstention. */
export interface EvaluatedSystem {
  name: string;
  /** `exampleCwe`: the CWE of the example it chose for the prompt (null: none), for a system that chooses one. */
  rank(task: CodingTask): Promise<{ ranked: string[]; abstained: boolean; exampleCwe?: string | null } | undefined>;
}

export interface SystemOnSet {
  all: RetrievalMetrics;
  /** Tasks whose gold CWE has fix pairs in the KB's fix-pair datasets. */
  seen: RetrievalMetrics;
  /** Tasks whose gold CWE has none (catalogue, CodeQL or nothing). */
  unseen: RetrievalMetrics;
  /** Share of tasks given security context (what a set of ordinary tasks measures). */
  fired: number;
  /** Tasks the system could not answer (an LLM analysis that failed), left out of the metrics. */
  skipped: number;
}

export interface SetReport {
  set: string;
  tasks: number;
  negative: boolean;
  systems: Record<string, SystemOnSet>;
}

export interface EvaluationReport {
  sets: SetReport[];
  /** Per system, the mean over the sets with gold CWEs of each metric over all their tasks, and the mean fired rate over the negative sets. */
  macro: Record<string, { hitAt1: number; hitAt4: number; hitAt10: number; mrr: number; unseenHitAt4: number; exampleHit?: number; firedOnNegatives?: number }>;
}

const round = (x: number): number => Math.round(x * 1000) / 1000;
const mean = (xs: number[]): number => (xs.length === 0 ? 0 : round(xs.reduce((a, b) => a + b, 0) / xs.length));

/**
 * Runs every system on every task of every set. `isSeen` says whether a gold CWE has fix-pair data
 * in the KB, for the seen/unseen split.
 */
export async function evaluateRetrieval(
  sets: EvaluationSet[],
  systems: EvaluatedSystem[],
  isSeen: (cwe: string) => boolean,
  onTask?: (set: string, done: number, total: number) => void,
): Promise<EvaluationReport> {
  const reports: SetReport[] = [];
  for (const set of sets) {
    const bySystem: Record<string, SystemOnSet> = {};
    const outcomes: Record<string, RetrievalOutcome[]> = Object.fromEntries(systems.map((s) => [s.name, []]));
    const skipped: Record<string, number> = Object.fromEntries(systems.map((s) => [s.name, 0]));
    let done = 0;
    for (const task of set.tasks) {
      const gold = task.goldCwes ?? [];
      for (const system of systems) {
        const r = await system.rank(task);
        if (!r) {
          skipped[system.name] += 1;
          continue;
        }
        outcomes[system.name].push({
          gold,
          ranked: r.abstained ? [] : r.ranked,
          abstained: r.abstained,
          seen: gold.some(isSeen),
          ...(r.exampleCwe !== undefined ? { exampleCwe: r.abstained ? null : r.exampleCwe } : {}),
        });
      }
      onTask?.(set.name, (done += 1), set.tasks.length);
    }
    for (const system of systems) {
      const o = outcomes[system.name];
      bySystem[system.name] = {
        all: retrievalMetrics(o),
        seen: retrievalMetrics(o.filter((x) => x.seen)),
        unseen: retrievalMetrics(o.filter((x) => !x.seen && x.gold.length > 0)),
        fired: o.length === 0 ? 0 : round(o.filter((x) => !x.abstained && x.ranked.length > 0).length / o.length),
        skipped: skipped[system.name],
      };
    }
    reports.push({ set: set.name, tasks: set.tasks.length, negative: isNegativeSet(set), systems: bySystem });
  }
  const macro: EvaluationReport['macro'] = {};
  for (const system of systems) {
    const positive = reports.filter((r) => !r.negative).map((r) => r.systems[system.name]);
    const negative = reports.filter((r) => r.negative).map((r) => r.systems[system.name]);
    macro[system.name] = {
      hitAt1: mean(positive.map((p) => p.all.hitAt1)),
      hitAt4: mean(positive.map((p) => p.all.hitAt4)),
      hitAt10: mean(positive.map((p) => p.all.hitAt10)),
      mrr: mean(positive.map((p) => p.all.mrr)),
      unseenHitAt4: mean(positive.filter((p) => p.unseen.tasks > 0).map((p) => p.unseen.hitAt4)),
      ...(positive.some((p) => p.all.exampleHit !== undefined) ? { exampleHit: mean(positive.map((p) => p.all.exampleHit ?? 0)) } : {}),
      ...(negative.length > 0 ? { firedOnNegatives: mean(negative.map((n) => n.fired)) } : {}),
    };
  }
  return { sets: reports, macro };
}

/** The best naive baseline's value of a metric on a set (the bar Rescue is held to). */
export function bestBaseline(report: SetReport, metric: (m: SystemOnSet) => number, baselines: readonly string[]): { name: string; value: number } {
  let best = { name: '', value: -Infinity };
  for (const name of baselines) {
    const m = report.systems[name];
    if (m && metric(m) > best.value) best = { name, value: metric(m) };
  }
  return best;
}
