import { Command, Help } from 'commander';

type Register = (parent: Command) => void;

/**
 * Where each command lives, and what `--help` lists for it without loading it. A command module
 * imports what its command does (the pipeline, LanceDB, the grammars, Elasticsearch and queue
 * clients): loading all of them cost over a second before any command ran. So a run loads the
 * module of the command it names, and lists the others from here. `program.spec.ts` checks that
 * this table says what the modules register (names, usage, descriptions, order).
 */
interface CommandEntry {
  parent: 'rescue' | 'kb';
  name: string;
  /** How the listing shows it (name, `[options]`, arguments), as commander prints a loaded one. */
  term: string;
  description: string;
  /** The module under ./commands (`<module>.command`) and the function there that registers it. */
  module: string;
  register: string;
}

const COMMANDS: CommandEntry[] = [
  {
    parent: 'kb',
    name: 'ingest',
    term: 'ingest [options]',
    description: 'Read, validate and normalize vulnerability-fix pairs (SVEN, SafeCoder or the generic JSONL schema) into the record store',
    module: 'kb-ingest',
    register: 'registerKbIngest',
  },
  {
    parent: 'kb',
    name: 'slice',
    term: 'slice [options]',
    description: 'Slice fix pairs to the statements around their changed lines (2-hop, bidirectional, over a program dependence graph)',
    module: 'kb-slice',
    register: 'registerKbSlice',
  },
  {
    parent: 'kb',
    name: 'build',
    term: 'build [options]',
    description: 'Build and publish a KB version: ingest → slice → summarize (extractive without an LLM) → index',
    module: 'kb-build',
    register: 'registerKbBuild',
  },
  { parent: 'kb', name: 'list', term: 'list [options]', description: 'List the published KB versions, newest first (* marks the one serving)', module: 'kb-inspect', register: 'registerKbInspect' },
  {
    parent: 'kb',
    name: 'stats',
    term: 'stats [options]',
    description: 'Counts of the serving KB version, per language and CWE (checked against its checksums first)',
    module: 'kb-inspect',
    register: 'registerKbInspect',
  },
  {
    parent: 'kb',
    name: 'show',
    term: 'show [options] <cwe>',
    description: 'Show a CWE node: guidelines, cause, APIs and a sliced secure example',
    module: 'kb-inspect',
    register: 'registerKbInspect',
  },
  {
    parent: 'kb',
    name: 'quarantine',
    term: 'quarantine',
    description: 'What the KB screen held back (suspected poisoning), and releasing an item after review',
    module: 'kb-quarantine',
    register: 'registerKbQuarantine',
  },
  {
    parent: 'kb',
    name: 'calibrate',
    term: 'calibrate [options]',
    description: "Fit this KB version's ranker and relevance gate on development tasks with gold CWEs, and store them beside the version",
    module: 'eval',
    register: 'registerKbCalibrate',
  },
  {
    parent: 'kb',
    name: 'verify',
    term: 'verify [options]',
    description: 'Check a KB version against its checksums, and the stored records and slices; exit 1 naming each bad file',
    module: 'kb-verify',
    register: 'registerKbVerify',
  },
  {
    parent: 'rescue',
    name: 'retrieve',
    term: 'retrieve [options] [task]',
    description: 'Security context for coding tasks: the likely CWEs, their guidelines and a sliced secure example, or an abstention for a task with no security aspect (offline mode: no LLM)',
    module: 'retrieve',
    register: 'registerRetrieve',
  },
  { parent: 'rescue', name: 'eval', term: 'eval', description: 'evaluate retrieval, and fit its ranker and relevance gate', module: 'eval', register: 'registerEval' },
  {
    parent: 'rescue',
    name: 'generate',
    term: 'generate [options]',
    description: 'Generate code for tasks with RESCUE: analysis, retrieval, then the LLM with the security context (resumable)',
    module: 'generate',
    register: 'registerGenerate',
  },
];

/** Loads a command's module (synchronously: commander needs it before parsing), never at the top of this file: that is the point. */
function load(entry: CommandEntry): Register {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require(`./commands/${entry.module}.command`) as Record<string, Register>)[entry.register];
}

/** The command a command line names: `kb <sub>` or a top-level one (`help <command>` names it too). */
function invoked(args: string[]): CommandEntry | undefined {
  const words = args.filter((a) => !a.startsWith('-'));
  const [first, second, third] = words[0] === 'help' ? words.slice(1) : words;
  if (first === 'kb') return COMMANDS.find((c) => c.parent === 'kb' && c.name === second) ?? (second === 'help' ? COMMANDS.find((c) => c.parent === 'kb' && c.name === third) : undefined);
  return COMMANDS.find((c) => c.parent === 'rescue' && c.name === first);
}

/**
 * The `rescue` command tree. Kept apart from main.ts so tests can run commands in-process.
 *
 * Without arguments every command is loaded (what tests that run several commands want). With the
 * command line (`process.argv`), only the named command's module is: the others are listed by
 * name, usage and description, and a run of one of them loads it.
 */
export function buildProgram(argv?: string[]): Command {
  const program = new Command('rescue').description('Rescue: security knowledge bases from vulnerability fixes, and secure code generation with them').showHelpAfterError();
  // Placeholders are listed with the usage their command shows once loaded.
  const terms = new WeakMap<Command, string>();
  const help = new Help();
  program.configureHelp({ subcommandTerm: (cmd) => terms.get(cmd) ?? help.subcommandTerm(cmd) });
  const kb = program.command('kb').description('build and inspect the security knowledge base');
  const wanted = argv ? invoked(argv.slice(2)) : undefined;
  const sameRegister = (a: CommandEntry, b: CommandEntry | undefined): boolean => b !== undefined && a.module === b.module && a.register === b.register;
  const registered = new Set<string>();
  for (const entry of COMMANDS) {
    const parent = entry.parent === 'kb' ? kb : program;
    if (!argv || sameRegister(entry, wanted)) {
      // One function may register several commands (kb list, stats, show): called once.
      const key = `${entry.module}.${entry.register}`;
      if (!registered.has(key)) load(entry)(parent);
      registered.add(key);
    } else {
      terms.set(parent.command(entry.name).description(entry.description), entry.term);
    }
  }
  return program;
}
