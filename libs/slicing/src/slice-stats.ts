import type { SliceFailureClass } from './slice-failure';
import type { SliceOutcome } from './slicer';

export interface SliceGroupStats {
  functions: number;
  sliced: number;
  failures: Partial<Record<SliceFailureClass, number>>;
  /** Mean non-blank lines of the whole functions and of their slices, per version. */
  meanLines: { vulnerable: { before: number; after: number }; secure: { before: number; after: number } };
  /** 1 − (slice lines) / (function lines), both versions together (the paper's measure). */
  reductionPct: number;
  poiLines: number;
  poiRetained: number;
  poiRetentionPct: number;
  /** Share of slices that re-parse without syntax errors, and of whole functions for comparison. */
  validSlicePct: number;
  validFunctionPct: number;
}

interface Acc {
  functions: number;
  sliced: number;
  failures: Partial<Record<SliceFailureClass, number>>;
  vBefore: number;
  vAfter: number;
  sBefore: number;
  sAfter: number;
  poiLines: number;
  poiRetained: number;
  validSlices: number;
  validFunctions: number;
}

const empty = (): Acc => ({ functions: 0, sliced: 0, failures: {}, vBefore: 0, vAfter: 0, sBefore: 0, sAfter: 0, poiLines: 0, poiRetained: 0, validSlices: 0, validFunctions: 0 });
const pct = (n: number, d: number): number => (d === 0 ? 0 : Math.round((1000 * n) / d) / 10);
const mean = (n: number, d: number): number => (d === 0 ? 0 : Math.round((10 * n) / d) / 10);

/** Accumulates slicing outcomes per language and overall. */
export class SliceStatsCollector {
  private readonly groups = new Map<string, Acc>();

  add(outcome: SliceOutcome): void {
    const language = outcome.ok ? outcome.slice.language : outcome.failure.language;
    for (const key of [language, 'all']) {
      let acc = this.groups.get(key);
      if (!acc) this.groups.set(key, (acc = empty()));
      acc.functions += 1;
      if (!outcome.ok) {
        acc.failures[outcome.failure.failureClass] = (acc.failures[outcome.failure.failureClass] ?? 0) + 1;
        continue;
      }
      const { vulnerable: v, secure: s } = outcome.slice;
      acc.sliced += 1;
      acc.vBefore += v.functionLines;
      acc.vAfter += v.sliceLines;
      acc.sBefore += s.functionLines;
      acc.sAfter += s.sliceLines;
      for (const version of [v, s]) {
        const kept = new Set(version.lines);
        acc.poiLines += version.poi.length;
        acc.poiRetained += version.poi.filter((l) => kept.has(l)).length;
        acc.validSlices += version.valid ? 1 : 0;
        acc.validFunctions += version.functionValid ? 1 : 0;
      }
    }
  }

  languages(): string[] {
    return [...this.groups.keys()].filter((k) => k !== 'all').sort();
  }

  stats(key = 'all'): SliceGroupStats {
    const a = this.groups.get(key) ?? empty();
    return {
      functions: a.functions,
      sliced: a.sliced,
      failures: a.failures,
      meanLines: { vulnerable: { before: mean(a.vBefore, a.sliced), after: mean(a.vAfter, a.sliced) }, secure: { before: mean(a.sBefore, a.sliced), after: mean(a.sAfter, a.sliced) } },
      reductionPct: pct(a.vBefore + a.sBefore - a.vAfter - a.sAfter, a.vBefore + a.sBefore),
      poiLines: a.poiLines,
      poiRetained: a.poiRetained,
      poiRetentionPct: pct(a.poiRetained, a.poiLines),
      validSlicePct: pct(a.validSlices, 2 * a.sliced),
      validFunctionPct: pct(a.validFunctions, 2 * a.sliced),
    };
  }
}
