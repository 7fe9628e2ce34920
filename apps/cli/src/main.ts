import { ConfigError, classify } from '@rescue/domain';
import { buildProgram } from './program';

// Only the named command's module is loaded (see buildProgram): `rescue --help` stays instant.

buildProgram(process.argv)
  .parseAsync(process.argv)
  .catch((err: unknown) => {
    const failure = classify(err);
    // Settings are listed one per line: there can be several, each named with its variable.
    const message = err instanceof ConfigError ? `invalid settings:\n  ${err.problems.join('\n  ')}` : failure.message;
    process.stderr.write(`rescue: ${message}\n`);
    process.exitCode = failure.exitCode;
  });
