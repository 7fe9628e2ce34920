import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { llmEnv, loadConfig } from '@rescue/config';
import { type CodingTask, acquireExclusiveLock } from '@rescue/datasets';
import { ConfigError, InvalidInputError } from '@rescue/domain';
import { type BatchSummary, generateForTask, runGenerationBatch } from '@rescue/generation';
import { llmFromEnv } from '@rescue/llm';
import { Slicer } from '@rescue/slicing';
import { generateDistributed } from './generate-distributed';
import { TaskInput } from '../task-input';
import { intOption } from '../options';
import { type KbOptions, addKbOptions, isUrl, openKb } from '../kb-location';

interface GenerateOptions {
  tasks: string;
  out: string;
  samples: string;
  concurrency: string;
  temperature: string;
  style: string;
  guidanceCwes: string;
  guidanceTokens: string;
  kb: string;
  distributed?: boolean;
  retryFailed: boolean;
  json?: boolean;
}

export function registerGenerate(program: Command): void {
  addKbOptions(program.command('generate'))
    .description('Generate code for tasks with RESCUE: analysis, retrieval, then the LLM with the security context (resumable)')
    .requiredOption('--tasks <jsonl>', 'tasks, one {"id","language","prompt","kind"?} per line')
    .requiredOption('--out <jsonl>', 'results, one per task (tasks done here are skipped; failed ones run again, their failures kept in <out>.history.jsonl)')
    .option('--samples <n>', 'samples per task', '1')
    .option('--concurrency <c>', 'tasks in flight', '8')
    .option('--temperature <t>', 'sampling temperature', '0.2')
    .option('--style <style>', 'chat | completion (completion-style models continue the task code)', 'chat')
    .option('--guidance-cwes <n>', "put the guidelines of up to n retrieved CWEs in the prompt (1: the paper, the chosen example's CWE only)", '1')
    .option('--guidance-tokens <t>', 'token budget for the security knowledge in the prompt when --guidance-cwes > 1', '1500')
    .option('--distributed', 'one queue job per task on the generator workers (REDIS_URL, QUEUE_PREFIX, a KB folder they share)')
    .option('--no-retry-failed', 'keep the failures already in --out instead of attempting those tasks again')
    .option('--json', 'print the summary as JSON')
    .action(async (opts: GenerateOptions & KbOptions) => {
      const llm = llmFromEnv(loadConfig(llmEnv));
      if (!llm && !opts.distributed) throw new ConfigError(['no LLM configured (set LLM_BASE_URL and a model). Without one, `rescue retrieve` gives the security context for your tasks.']);
      const samples = intOption('--samples', opts.samples, 1, 100);
      const concurrency = intOption('--concurrency', opts.concurrency, 1, 256);
      const guidance = { cwes: intOption('--guidance-cwes', opts.guidanceCwes, 1, 10), tokens: intOption('--guidance-tokens', opts.guidanceTokens, 100, 32_000) };
      const temperature = Number(opts.temperature);
      if (!(temperature >= 0 && temperature <= 2)) throw new InvalidInputError(`--temperature must be between 0 and 2, not ${JSON.stringify(opts.temperature)}`);
      if (opts.style !== 'chat' && opts.style !== 'completion') throw new InvalidInputError(`--style must be chat or completion, not ${JSON.stringify(opts.style)}`);
      const input = new TaskInput();
      const tasks: CodingTask[] = await input.all(opts.tasks);
      // One writer per --out: two runs appending to one file would each write every task (issue 11).
      const outLock = await acquireExclusiveLock(`${opts.out}.lock`, { purpose: 'generate --out' });
      try {
        if (opts.distributed) {
          if (isUrl(opts.kb)) throw new InvalidInputError('--distributed needs a KB folder the generator workers share (--kb <dir>); they can search Elasticsearch with ELASTICSEARCH_URL');
          const summary = await generateDistributed({
            tasks,
            out: opts.out,
            kbDir: opts.kb,
            samples,
            style: opts.style as 'chat' | 'completion',
            temperature,
            guidance,
            retryFailed: opts.retryFailed,
          });
          process.stdout.write(
            opts.json
              ? `${JSON.stringify(summary, null, 2)}\n`
              : `Batch ${summary.batchId}: ${summary.done} generated, ${summary.failed} failed, ${summary.resumed} already in ${opts.out}${retriedLine(summary.retried)}; ${summary.seconds} s\n`,
          );
          input.finish();
          return;
        }
        if (!llm) return;
        const kb = await openKb(opts);
        const slicer = await Slicer.create();
        const bar = !opts.json && process.stderr.isTTY ? new SingleBar({ format: 'generate [{bar}] {value}/{total} tasks', stream: process.stderr }) : undefined;
        let started = false;
        const summary = await runGenerationBatch(
          tasks,
          opts.out,
          (task) =>
            generateForTask(task, kb, llm, {
              samples,
              temperature,
              style: opts.style as 'chat' | 'completion',
              guidance,
              apiCalls: (language, code) => slicer.apiReferences(language as CodingTask['language'], code),
            }),
          {
            concurrency,
            attempts: 3,
            retryFailed: opts.retryFailed,
            onProgress: (done, total) => {
              if (!bar) return;
              if (!started) bar.start(total, 0);
              started = true;
              bar.update(done);
            },
          },
        );
        bar?.stop();
        input.finish();
        if (opts.json) return void process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
        const failures = Object.entries(summary.failuresByClass)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ');
        process.stdout.write(
          `Generated ${summary.done} task(s), ${summary.samples} sample(s); ${summary.failed} failed${failures ? ` (${failures})` : ''}; ${summary.resumed} already in ${opts.out}${retriedLine(summary.retried)}\n` +
            `  tokens: ${summary.tokens.prompt} prompt, ${summary.tokens.completion} completion; ${summary.seconds} s\n`,
        );
      } finally {
        await outLock.release();
      }
    });
}

/** What a run attempted again: "; 8 earlier failure(s) attempted again (LlmRequestRejectedError 8)". */
function retriedLine(retried: BatchSummary['retried']): string {
  if (retried.tasks === 0) return '';
  const byClass = Object.entries(retried.byClass)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  return `; ${retried.tasks} earlier failure(s) attempted again (${byClass})`;
}
