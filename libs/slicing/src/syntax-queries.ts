import { readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { type Language as Grammar, type Node, Query, type QueryMatch } from 'web-tree-sitter';
import { NotFoundError } from '@rescue/domain';
import { SliceFailure } from './slice-failure';
import { STEPS_PER_PROGRESS_CALLBACK, type WorkMeter } from './work-meter';

/**
 * What the slicer asks of a syntax tree besides its statements, one tree-sitter query file each,
 * per language: `libs/slicing/data/queries/<language>/<kind>.scm`.
 * - calls: `@call` (the call) and `@call.callee` (the parts of the callee's name);
 * - imports: `@import` with an optional `@import.module`, or `@import.call` with `@import.arguments`;
 * - comments: `@comment`, and `@docstring` where a language has them.
 */
export const QUERY_KINDS = ['calls', 'imports', 'comments'] as const;
export type QueryKind = (typeof QUERY_KINDS)[number];

/** One language's queries, compiled against its grammar. */
export type LanguageQueries = Readonly<Record<QueryKind, Query>>;

/**
 * Where the queries sit below the repository root. tsc copies no .scm files into dist/, so like
 * every data folder read at run time (libs/<lib>/data) they are found by walking up from the code,
 * and the Docker image copies the folder beside dist/.
 */
const QUERIES_BELOW_ROOT = join('libs', 'slicing', 'data', 'queries');

/**
 * `; inherits: c` at the top of a file puts that language's file of the same kind first: the tsx
 * grammar keeps JavaScript's node names and C++'s keeps C's, so their queries say only what differs.
 */
const INHERITS = /^;\s*inherits:\s*([\w, ]+)$/;

const isDirectory = (path: string): boolean => {
  try {
    return statSync(path).isDirectory();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return false;
    throw err;
  }
};

/**
 * The folder of .scm files: the first ancestor of `from` holding `libs/slicing/data/queries`. From
 * the sources (ts-jest) and from the compiled `dist/libs/slicing/src` alike, that is the
 * repository root (or the image's /app).
 */
export function queriesDir(from: string = __dirname): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, QUERIES_BELOW_ROOT);
    if (isDirectory(candidate)) return candidate;
    if (dirname(dir) === dir) break;
  }
  throw new NotFoundError(`the slicing queries (${QUERIES_BELOW_ROOT}) are in no folder above ${from}: run Rescue from its repository or image, which holds them beside dist/`);
}

/** A query file's text, with the files it inherits from put before it. */
export function querySource(dir: string, language: string, kind: QueryKind, inheriting: string[] = []): string {
  if (inheriting.includes(language)) {
    throw new SliceFailure('unsupported_language', `the ${kind} queries inherit in a cycle: ${[...inheriting, language].join(' → ')}`);
  }
  const file = join(dir, language, `${kind}.scm`);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(`the ${language} ${kind} query is missing: ${file}`);
    throw err;
  }
  const parents: string[] = [];
  for (const line of text.split('\n')) {
    const inherits = INHERITS.exec(line.trim());
    if (!inherits) break;
    parents.push(
      ...inherits[1]
        .split(',')
        .map((p) => p.trim())
        .filter(Boolean),
    );
  }
  return [...parents.map((p) => querySource(dir, p, kind, [...inheriting, language])), text].join('\n');
}

/**
 * Compiles a language's three queries. A query naming a node type or field the installed grammar
 * lacks fails to compile: like a grammar that does not load, that language is then unsupported.
 */
export function compileQueries(grammar: Grammar, language: string, dir: string = queriesDir()): LanguageQueries {
  const compiled: Partial<Record<QueryKind, Query>> = {};
  for (const kind of QUERY_KINDS) {
    const source = querySource(dir, language, kind);
    try {
      compiled[kind] = new Query(grammar, source);
    } catch (err) {
      throw new SliceFailure('unsupported_language', `the ${language} ${kind} query (${join(dir, language, `${kind}.scm`)}) does not compile against the installed grammar: ${(err as Error).message}`);
    }
  }
  return compiled as LanguageQueries;
}

/** A match and the node that places it in the source. */
export interface PlacedMatch {
  match: QueryMatch;
  node: Node;
}

/**
 * The matches of a query under `node`, each placed by its first capture named in `anchors`, in the
 * order a pre-order walk meets those nodes: by start, an enclosing node before the nodes it
 * holds. That is the order results are reported (and de-duplicated) in, whatever order the query
 * engine finishes its matches in. With a meter the query's operations are charged to it, and the
 * query is cancelled (and the work fails) once it says stop.
 */
export function matchesInOrder(query: Query, node: Node, anchors: readonly string[], meter?: WorkMeter): PlacedMatch[] {
  let cancelled = false;
  const options = meter ? { progressCallback: (() => (cancelled = meter.charge(STEPS_PER_PROGRESS_CALLBACK) !== undefined)) as () => void } : undefined;
  const matches = query.matches(node, options);
  if (cancelled && meter) throw meter.failure();
  const placed: PlacedMatch[] = [];
  for (const match of matches) {
    const anchor = match.captures.find((c) => anchors.includes(c.name));
    if (anchor) placed.push({ match, node: anchor.node });
  }
  // Array.prototype.sort is stable: nodes with the same span keep the engine's order.
  return placed.sort((a, b) => a.node.startIndex - b.node.startIndex || b.node.endIndex - a.node.endIndex);
}

/** The nodes a match captured under `name`, in source order. */
export function captured(match: QueryMatch, name: string): Node[] {
  return match.captures.filter((c) => c.name === name).map((c) => c.node);
}
