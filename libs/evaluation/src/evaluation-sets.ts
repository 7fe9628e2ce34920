import { stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { type CodingTask, type TaskLineProblem, readSecEvalScenarios, readTaskLines } from '@rescue/datasets';
import { InvalidInputError } from '@rescue/domain';

/** One development set: tasks with gold CWEs (none for a set of ordinary tasks, where retrieval should abstain). */
export interface EvaluationSet {
  name: string;
  source: string;
  tasks: CodingTask[];
}

/** Whether a set holds only ordinary tasks (every gold list empty): its measure is how often retrieval fires. */
export const isNegativeSet = (set: EvaluationSet): boolean => set.tasks.length > 0 && set.tasks.every((t) => (t.goldCwes ?? []).length === 0);

/** A set's name: its folder for a `tasks.jsonl` (`cweval/tasks.jsonl` → cweval), else the file or folder name. */
export function setName(path: string): string {
  const base = basename(path);
  if (/^tasks\.jsonl?$/i.test(base)) return basename(dirname(path));
  return base.replace(/\.jsonl?$/i, '');
}

/**
 * Reads task files (gold CWEs in `gold_cwes`) and SafeCoder-style scenario folders into named
 * sets. A bad task line is reported through `onProblem` and skipped; a task without `gold_cwes`
 * cannot be evaluated and is reported too. Two sources with the same name are told apart by a
 * number.
 */
export async function readEvaluationSets(input: { tasks?: string[]; dev?: string[] }, onProblem: (p: TaskLineProblem) => void): Promise<EvaluationSet[]> {
  const sets: EvaluationSet[] = [];
  const named = (name: string): string => {
    let n = name;
    for (let i = 2; sets.some((s) => s.name === n); i++) n = `${name}-${i}`;
    return n;
  };
  for (const dir of input.dev ?? []) {
    if (!(await stat(dir).catch(() => undefined))?.isDirectory()) throw new InvalidInputError(`--dev ${dir} is not a folder of scenarios (info.json per scenario)`);
    sets.push({ name: named(setName(dir)), source: dir, tasks: await readSecEvalScenarios(dir) });
  }
  for (const file of input.tasks ?? []) {
    const tasks: CodingTask[] = [];
    for await (const task of readTaskLines(file, onProblem)) {
      if (task.goldCwes === undefined) {
        onProblem({ file, line: 0, field: 'gold_cwes', message: `task ${task.id} has no "gold_cwes" (use [] for a task with no weakness); left out of the evaluation` });
        continue;
      }
      tasks.push(task);
    }
    sets.push({ name: named(setName(file)), source: file, tasks });
  }
  if (sets.length === 0) throw new InvalidInputError('give tasks to evaluate: --tasks <jsonl>... (with "gold_cwes") and/or --dev <scenario folder>...');
  return sets;
}
