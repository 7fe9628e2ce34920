import type { CodingTask } from '@rescue/datasets';
// The module itself, not the library's index: `rescue retrieve` loads it (see retrieve.command.ts).
import { type TaskLineProblem, readSecEvalScenarios, readTaskLines } from '@rescue/datasets/task-files';
import { InvalidInputError } from '@rescue/domain';

const describe = (p: TaskLineProblem): string => `${p.file}${p.line ? `:${p.line}` : ''}: ${p.field ? `${p.field}: ` : ''}${p.message}`;

/**
 * Task lines for a command: problems are printed to stderr as they are found (file:line: field:
 * message), the valid tasks flow on, and the command ends with a non-zero exit code and a count.
 */
export class TaskInput {
  readonly problems: TaskLineProblem[] = [];

  async *read(path: string): AsyncGenerator<CodingTask> {
    yield* readTaskLines(path, (p) => {
      this.problems.push(p);
      process.stderr.write(`rescue: skipped ${describe(p)}\n`);
    });
  }

  async all(path: string): Promise<CodingTask[]> {
    const tasks: CodingTask[] = [];
    for await (const t of this.read(path)) tasks.push(t);
    return tasks;
  }

  /** Evaluation tasks with gold CWEs: a SafeCoder-style folder (`--dev`), a tasks file (`--tasks`), or both. */
  async withGold(from: { dev?: string; tasks?: string }): Promise<CodingTask[]> {
    const tasks = from.dev ? await readSecEvalScenarios(from.dev) : [];
    if (from.tasks) tasks.push(...(await this.all(from.tasks)));
    if (tasks.length === 0) throw new InvalidInputError('no tasks: give --dev <dir> or --tasks <jsonl> with gold_cwes');
    return tasks;
  }

  /** Call when the command is done: a skipped line makes the exit code 1, after the work is saved. */
  finish(): void {
    if (this.problems.length === 0) return;
    process.stderr.write(`rescue: ${this.problems.length} task line(s) skipped; fix them and re-run (finished tasks are kept)\n`);
    process.exitCode = 1;
  }
}
