import { appendFileSync, createWriteStream, existsSync, readFileSync } from 'node:fs';
import pMap from 'p-map';
import writeFileAtomic from 'write-file-atomic';
import type { CodingTask } from '@rescue/datasets';
import { RescueError } from '@rescue/domain';
import { type GenerationResult, errorClass } from './generate-task';

export interface BatchFailure {
  id: string;
  error: { class: string; message: string };
}

export type BatchLine = GenerationResult | BatchFailure;

export interface BatchSummary {
  tasks: number;
  /** Already in the output from an earlier run (results, and failures when not retried), so skipped. */
  resumed: number;
  /** Tasks that had failed in an earlier run and were attempted again in this one, by the class of that failure. */
  retried: { tasks: number; byClass: Record<string, number> };
  done: number;
  failed: number;
  failuresByClass: Record<string, number>;
  samples: number;
  tokens: { prompt: number; completion: number };
  seconds: number;
}

/** An empty summary for a batch of `tasks` of which `resumed` were already done. */
export function newBatchSummary(tasks: number, resumed: number, retried: Map<string, BatchFailure>): BatchSummary {
  const byClass: Record<string, number> = {};
  for (const f of retried.values()) byClass[f.error.class] = (byClass[f.error.class] ?? 0) + 1;
  return { tasks, resumed, retried: { tasks: retried.size, byClass }, done: 0, failed: 0, failuresByClass: {}, samples: 0, tokens: { prompt: 0, completion: 0 }, seconds: 0 };
}

/** Where the failures of earlier runs go when they are attempted again: `<out>.history.jsonl`. */
export const historyPathFor = (outPath: string): string => `${outPath}.history.jsonl`;

export interface ResumedOutput {
  /** Ids the output holds for good: results, and failures when they are not retried. */
  done: Set<string>;
  /** Failures of earlier runs taken out of the output to be attempted again, by task id. */
  retry: Map<string, BatchFailure>;
}

const isFailure = (line: BatchLine): line is BatchFailure => typeof (line as BatchFailure).error === 'object' && (line as BatchFailure).error !== null;

/**
 * Reads what an output file already holds and rewrites it without a torn last line (a run killed
 * mid-write), so a re-run appends only what is missing. With `retryFailed` (the default), the
 * failures of earlier runs leave the output for its history file (each with the time it was
 * retired), so their tasks run again and the output keeps one line per task; the history keeps
 * every earlier failure for people to read.
 */
export function resumeOutput(path: string, options: { retryFailed?: boolean } = {}): ResumedOutput {
  const retryFailed = options.retryFailed ?? true;
  const done = new Set<string>();
  const retry = new Map<string, BatchFailure>();
  if (!existsSync(path)) return { done, retry };
  const results = new Map<string, string>();
  const failures = new Map<string, { line: string; value: BatchFailure }>();
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      const v = JSON.parse(line) as BatchLine;
      if (typeof v?.id !== 'string') continue;
      if (!isFailure(v)) {
        if (!results.has(v.id)) results.set(v.id, line);
      } else if (!failures.has(v.id)) failures.set(v.id, { line, value: v });
    } catch (err) {
      // The torn line of an interrupted run: that task runs again.
      if (!(err instanceof SyntaxError)) throw err;
    }
  }
  const kept = [...results.values()];
  for (const id of results.keys()) done.add(id);
  const retired: string[] = [];
  for (const [id, f] of failures) {
    if (results.has(id)) continue;
    if (retryFailed) {
      retry.set(id, f.value);
      retired.push(JSON.stringify({ ...f.value, retiredAt: new Date().toISOString() }));
    } else {
      done.add(id);
      kept.push(f.line);
    }
  }
  // History first: a run killed between the two writes at worst repeats a history line, never loses one.
  if (retired.length > 0) appendFileSync(historyPathFor(path), `${retired.join('\n')}\n`);
  // Replaced whole: a run killed during this rewrite must not lose the results already paid for.
  writeFileAtomic.sync(path, kept.length > 0 ? `${kept.join('\n')}\n` : '');
  return { done, retry };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Runs a batch: tasks already in `outPath` are skipped (their failures are attempted again unless
 * `retryFailed` is false), `concurrency` run at once, each result or
 * classified failure is appended as one line as soon as it is known, and the batch goes on after a
 * failure. Rate limits and transient upstream errors are retried with backoff a few times first.
 */
export async function runGenerationBatch(
  tasks: CodingTask[],
  outPath: string,
  run: (task: CodingTask) => Promise<GenerationResult>,
  options: { concurrency: number; attempts: number; retryFailed?: boolean; onProgress?: (done: number, total: number) => void },
): Promise<BatchSummary> {
  const started = performance.now();
  const already = resumeOutput(outPath, { retryFailed: options.retryFailed });
  const todo = tasks.filter((t) => !already.done.has(t.id));
  const out = createWriteStream(outPath, { flags: 'a' });
  const todoIds = new Set(todo.map((t) => t.id));
  const retried = new Map([...already.retry].filter(([id]) => todoIds.has(id)));
  const summary = newBatchSummary(tasks.length, tasks.length - todo.length, retried);
  const write = (line: BatchLine): void => {
    out.write(`${JSON.stringify(line)}\n`);
  };
  const runTask = async (task: CodingTask): Promise<void> => {
    let attempt = 0;
    for (;;) {
      attempt += 1;
      try {
        const result = await run(task);
        summary.done += 1;
        summary.samples += result.samples.length;
        summary.tokens.prompt += result.tokens.prompt;
        summary.tokens.completion += result.tokens.completion;
        write(result);
        break;
      } catch (err) {
        const retryable = err instanceof RescueError && (err.kind === 'rate-limited' || err.kind === 'transient');
        if (retryable && attempt < options.attempts) {
          const hint = (err as { retryAfterMs?: number }).retryAfterMs;
          await sleep(Math.min(30_000, hint ?? 200 * 2 ** attempt));
          continue;
        }
        const cls = errorClass(err);
        summary.failed += 1;
        summary.failuresByClass[cls] = (summary.failuresByClass[cls] ?? 0) + 1;
        write({ id: task.id, error: { class: cls, message: (err as Error).message?.slice(0, 500) ?? String(err) } });
        break;
      }
    }
    options.onProgress?.(summary.done + summary.failed, todo.length);
  };
  await pMap(todo, runTask, { concurrency: Math.max(1, options.concurrency) });
  await new Promise<void>((r) => out.end(r));
  summary.seconds = Math.round((performance.now() - started) / 100) / 10;
  return summary;
}
