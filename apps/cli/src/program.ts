import { Command } from 'commander';
import { registerKbIngest } from './commands/kb-ingest.command';
import { registerKbBuild } from './commands/kb-build.command';
import { registerKbInspect } from './commands/kb-inspect.command';
import { registerKbQuarantine } from './commands/kb-quarantine.command';
import { registerKbSlice } from './commands/kb-slice.command';
import { registerKbVerify } from './commands/kb-verify.command';
import { registerGenerate } from './commands/generate.command';
import { registerRetrieve } from './commands/retrieve.command';
import { registerEval, registerKbCalibrate } from './commands/eval.command';

/** The `rescue` command tree. Kept apart from main.ts so tests can run commands in-process. */
export function buildProgram(): Command {
  const program = new Command('rescue')
    .description('Rescue: security knowledge bases from vulnerability fixes, and secure code generation with them')
    .showHelpAfterError();
  const kb = program.command('kb').description('build and inspect the security knowledge base');
  registerKbIngest(kb);
  registerKbSlice(kb);
  registerKbBuild(kb);
  registerKbInspect(kb);
  registerKbQuarantine(kb);
  registerKbCalibrate(kb);
  registerKbVerify(kb);
  registerRetrieve(program);
  registerEval(program);
  registerGenerate(program);
  return program;
}
