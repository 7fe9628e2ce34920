import { createWriteStream } from 'node:fs';
import type { Command } from 'commander';
// The modules it uses, not the libraries' indexes: those load every command's code (the LLM
// client, the ingestors, their zod schemas), a third of a `rescue retrieve` before it reads the KB.
import { assertWritableFilePath } from '@rescue/datasets/regular-file';
import { InvalidInputError, taskLanguage } from '@rescue/domain';
import { retrieveOffline } from '@rescue/generation/offline-retrieval';
import { Slicer } from '@rescue/slicing';
import { type KbOptions, addKbOptions, openKb } from '../kb-location';
import { intOption } from '../options';
import { TaskInput } from '../task-input';

export function registerRetrieve(program: Command): void {
  addKbOptions(program.command('retrieve'))
    .description('Security context for coding tasks: the likely CWEs, their guidelines and a sliced secure example, or an abstention for a task with no security aspect (offline mode: no LLM)')
    .argument('[task]', 'one task, as text or code')
    .option('--language <language>', "the task's language (with a single task): any language name; those without a grammar are searched by their text")
    .option('--tasks <jsonl>', 'tasks, one {"id","language","prompt","kind"?} per line')
    .option('--out <jsonl>', 'write one result per task here (default: stdout)')
    .option('--guidance-cwes <n>', 'also give the guidelines of further retrieved CWEs, up to n CWEs in all', '1')
    .option('--guidance-tokens <t>', 'token budget for the guidelines and example when --guidance-cwes > 1', '1500')
    .action(async (taskText: string | undefined, opts: { language?: string; tasks?: string; out?: string; guidanceCwes: string; guidanceTokens: string } & KbOptions) => {
      const guidance = { cwes: intOption('--guidance-cwes', opts.guidanceCwes, 1, 10), tokens: intOption('--guidance-tokens', opts.guidanceTokens, 100, 32_000) };
      if (!opts.tasks && !taskText) throw new InvalidInputError('give a task (text or code) or --tasks <jsonl>');
      const language = opts.tasks ? undefined : opts.language ? taskLanguage(opts.language) : undefined;
      if (!opts.tasks && !language) throw new InvalidInputError(`--language is required with a single task (e.g. python), got ${JSON.stringify(opts.language)}`);
      if (opts.out) await assertWritableFilePath(opts.out, '--out');
      const kb = await openKb(opts);
      const slicer = await Slicer.create();
      const out = opts.out ? createWriteStream(opts.out) : process.stdout;
      const input = new TaskInput();
      if (opts.tasks) {
        for await (const task of input.read(opts.tasks)) out.write(`${JSON.stringify(await retrieveOffline(kb, slicer, task, guidance))}\n`);
      } else {
        out.write(`${JSON.stringify(await retrieveOffline(kb, slicer, { id: 'task', language: language as NonNullable<typeof language>, prompt: taskText as string }, guidance), null, 2)}\n`);
      }
      if (opts.out) await new Promise<void>((r) => (out as ReturnType<typeof createWriteStream>).end(r));
      input.finish();
    });
}
