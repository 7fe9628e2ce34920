import { SliceFailure } from './slice-failure';

/**
 * Tree-sitter calls a parse's or a query's progress callback once per 100 of its operations
 * (OP_COUNT_PER_PARSER_TIMEOUT_CHECK, OP_COUNT_PER_QUERY_TIMEOUT_CHECK in its C library), counted
 * from zero at each parse and each query run: each call is charged as those 100 steps.
 */
export const STEPS_PER_PROGRESS_CALLBACK = 100;

/**
 * The default work budget of one record (both versions of a fix share one). On kb-source (1,251
 * records) the most work any record takes is 2.13 M steps (1.2 s on an idle 2-core machine), so
 * the budget is ~9× that: about 10-20 s of slicing at the 1,100-1,800 steps/ms measured there,
 * well inside the 60 s wall-clock safety net. Changing it changes outcomes: bump SLICER_VERSION.
 */
export const WORK_BUDGET = 20_000_000;

/** Steps between two looks at the clock: reading it on every syntax node would cost more than the node. */
const CLOCK_EVERY = 2048;

/**
 * The work of slicing one function, counted in steps that the same input takes on any machine at
 * any load: tree-sitter's parse and query operations (it calls back once per 100), syntax nodes
 * walked, and the reaching-definition pass's statement visits and state entries merged.
 *
 * Past `budget` steps the function is `too_complex`: a verdict on the input alone, so a slice
 * store may keep it and every build reaches the same one. The wall clock is only a safety net for
 * work the count misses: past `wallMs` the work fails as a `timeout`, a verdict on this run (a busy
 * machine, a stopped process), which must never be stored as the function's outcome.
 *
 * The budget is checked before the clock, so a function over its budget is `too_complex` however
 * slowly it ran up to that point.
 */
export class WorkMeter {
  private spent = 0;
  private nextClockCheck = CLOCK_EVERY;
  private stopped: SliceFailure | undefined;
  private readonly deadline: number;

  constructor(
    readonly budget: number,
    readonly wallMs: number,
  ) {
    this.deadline = performance.now() + wallMs;
  }

  /** Steps spent so far. */
  get used(): number {
    return this.spent;
  }

  /** Steps left before the budget is spent. */
  get remaining(): number {
    return Math.max(0, this.budget - this.spent);
  }

  /** Adds steps, and throws once the budget is spent or the deadline has passed. */
  spend(steps: number): void {
    const stop = this.charge(steps);
    if (stop) throw stop;
  }

  /**
   * Adds steps and returns the failure once the work must stop, without throwing: tree-sitter's
   * progress callbacks run inside WebAssembly and may only answer "cancel".
   */
  charge(steps: number): SliceFailure | undefined {
    if (this.stopped) return this.stopped;
    this.spent += steps;
    if (this.spent > this.budget) {
      this.stopped = new SliceFailure('too_complex', `the analysis needs more than ${this.budget} steps (parse and query operations, syntax nodes, data-flow steps)`);
    } else if (this.spent >= this.nextClockCheck) {
      this.nextClockCheck = this.spent + CLOCK_EVERY;
      if (performance.now() > this.deadline) this.stopped = new SliceFailure('timeout', `still running after ${this.wallMs} ms (the wall-clock safety net; the machine may be overloaded)`);
    }
    return this.stopped;
  }

  /** The failure that stopped the work, for a caller whose tree-sitter call was cancelled. */
  failure(): SliceFailure {
    return this.stopped ?? new SliceFailure('timeout', 'cancelled');
  }
}
