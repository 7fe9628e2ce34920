import type { Command } from 'commander';
import { buildProgram } from '../src/program';

// `rescue` loads only the module of the command a run names and lists the others from a table in
// program.ts. That table must say what the modules register: the same help, word for word, as
// with every module loaded, for the top level and each group, whatever command was named.

const helpOf = (program: Command, path: string[]): string => {
  let cmd = program;
  for (const name of path) cmd = cmd.commands.find((c) => c.name() === name) as Command;
  return cmd.helpInformation();
};

describe('buildProgram', () => {
  const eager = buildProgram();

  it.each([['--help'], ['kb', '--help'], ['retrieve', 'x', '--kb', 'dir'], ['kb', 'show', 'CWE-89'], ['help', 'generate'], ['kb', 'help', 'build'], ['nonsense']])(
    'lists every command as the fully loaded program does (rescue %s …)',
    (...args) => {
      const lazy = buildProgram(['node', 'rescue', ...args]);
      for (const path of [[], ['kb']]) expect([path.join(' '), helpOf(lazy, path)]).toEqual([path.join(' '), helpOf(eager, path)]);
    },
  );

  it('loads a named group with its subcommands', () => {
    expect(helpOf(buildProgram(['node', 'rescue', 'eval', 'retrieval']), ['eval'])).toEqual(helpOf(eager, ['eval']));
    expect(helpOf(buildProgram(['node', 'rescue', 'kb', 'quarantine', 'list']), ['kb', 'quarantine'])).toEqual(helpOf(eager, ['kb', 'quarantine']));
  });

  it('loads the named command for real: its options and arguments parse', () => {
    const lazy = buildProgram(['node', 'rescue', 'kb', 'show', 'CWE-89']);
    const show = (lazy.commands.find((c) => c.name() === 'kb') as Command).commands.find((c) => c.name() === 'show') as Command;
    expect(show.options.length).toBeGreaterThan(0);
    expect(helpOf(lazy, ['kb', 'show'])).toEqual(helpOf(eager, ['kb', 'show']));
  });
});
