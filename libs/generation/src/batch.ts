import { createWriteStream, existsSync, readFileSync } from 'node:fs';
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
  /** Already in the output from an earlier run, so skipped. */
  resumed: number;
  done: number;
  failed: number;
  failuresByClass: Record<string, number>;
  samples: number;
  tokens: { prompt: number; completion: number };
  seconds: number;
}

/**
 * Reads the ids an output file already holds, and rewrites it without a torn last line (a run
 * killed mid-write), so a re-run appends only what is missing.
 */
export function resumeOutput(path: string): Set<string> {
  const done = new Set<string>();
  if (!existsSync(path)) return done;
  const kept: string[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      const v = JSON.parse(line) as { id?: unknown };
      if (typeof v.id === 'string' && !done.has(v.id)) {
        done.add(v.id);
        kept.push(line);
      }
    } catch (err) {
      // The torn line of an interrupted run: that task runs again.
      if (!(err instanceof SyntaxError)) throw err;
    }
  }
  // Replaced whole: a run killed during this rewrite must not lose the results already paid for.
  writeFileAtomic.sync(path, kept.length > 0 ? `${kept.join('\n')}\n` : '');
  return done;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Runs a batch: tasks already in `outPath` are skipped, `concurrency` run at once, each result or
 * classified failure is appended as one line as soon as it is known, and the batch goes on after a
 * failure. Rate limits and transient upstream errors are retried with backoff a few times first.
 */
export async function runGenerationBatch(
  tasks: CodingTask[],
  outPath: string,
  run: (task: CodingTask) => Promise<GenerationResult>,
  options: { concurrency: number; attempts: number; onProgress?: (done: number, total: number) => void },
): Promise<BatchSummary> {
  const started = performance.now();
  const already = resumeOutput(outPath);
  const todo = tasks.filter((t) => !already.has(t.id));
  const out = createWriteStream(outPath, { flags: 'a' });
  const summary: BatchSummary = { tasks: tasks.length, resumed: tasks.length - todo.length, done: 0, failed: 0, failuresByClass: {}, samples: 0, tokens: { prompt: 0, completion: 0 }, seconds: 0 };
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
