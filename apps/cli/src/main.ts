import { ConfigError } from '@rescue/domain';
import { buildProgram } from './program';

buildProgram()
  .parseAsync(process.argv)
  .catch((err: unknown) => {
    const message = err instanceof ConfigError ? `invalid settings:\n  ${err.problems.join('\n  ')}` : err instanceof Error ? err.message : String(err);
    process.stderr.write(`rescue: ${message}\n`);
    process.exitCode = 1;
  });
