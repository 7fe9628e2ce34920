import { readFileSync } from 'node:fs';
import { Language as Grammar, Parser, type Tree } from 'web-tree-sitter';
import type { Language } from '@rescue/domain';
import { LANGUAGE_SPECS, type LanguageSpec } from './language-specs';
import { SliceFailure } from './slice-failure';
import { type LanguageQueries, compileQueries } from './syntax-queries';
import { useWasmExports } from './wasm-cursor';
import { STEPS_PER_PROGRESS_CALLBACK, WORK_BUDGET, WorkMeter } from './work-meter';

/**
 * Limits that keep one hostile function from stalling a worker. All but `timeBudgetMs` judge the
 * input alone, so their failures may be stored; they are part of what the slicer is, and changing
 * a default means bumping SLICER_VERSION.
 */
export interface ParseLimits {
  /**
   * Wall-clock safety net for parsing plus analysis of one function, far above what the work
   * budget allows on an idle machine: it catches work the count misses, and its `timeout` is
   * never stored (a busy machine must not change a KB).
   */
  timeBudgetMs: number;
  /** Steps of work (see {@link WorkMeter}) one function may take: past it, `too_complex`. */
  workBudget: number;
  maxBytes: number;
  maxLines: number;
  maxLineLength: number;
  /** Deepest syntax-tree nesting the analysis accepts. */
  maxDepth: number;
}

export const DEFAULT_LIMITS: ParseLimits = {
  timeBudgetMs: 60_000,
  workBudget: WORK_BUDGET,
  maxBytes: 512 * 1024,
  maxLines: 20_000,
  maxLineLength: 10_000,
  maxDepth: 400,
};

let initialized: Promise<void> | undefined;

/** A meter for one piece of work under the limits. */
export const meterFor = (limits: ParseLimits): WorkMeter => new WorkMeter(limits.workBudget, limits.timeBudgetMs);

/**
 * Grammars load as bytes, not paths: web-tree-sitter's CommonJS build loads paths with a dynamic
 * import that jest cannot run, and bytes work everywhere.
 */
function loadBytes(modulePath: string): Uint8Array {
  return new Uint8Array(readFileSync(require.resolve(modulePath)));
}

/**
 * Each language's grammar and compiled queries, for every registry of this thread: loading a
 * grammar costs ~10–50 ms and compiling its queries about as much, and a long-lived process (a
 * worker, the API) makes a Slicer per build: a +1% rebuild's 13 records in five languages paid
 * 70–90 ms for them again. Both are immutable once made (only trees are deleted), so sharing them
 * is safe; parsers, which hold per-parse state, stay per registry.
 */
const grammars = new Map<Language, Promise<Grammar>>();
const compiled = new Map<Language, LanguageQueries>();

/** The parser of each language, and the thread's grammars and queries (see {@link grammars}). */
export class ParserRegistry {
  private readonly parsers = new Map<Language, Parser>();

  static async create(): Promise<ParserRegistry> {
    if (!initialized) {
      const moduleOptions = { wasmBinary: loadBytes('web-tree-sitter/tree-sitter.wasm') };
      // The options object becomes the WebAssembly module: statement walks call its cursor exports directly.
      initialized = Parser.init(moduleOptions as object).then(() => useWasmExports(moduleOptions));
    }
    await initialized;
    return new ParserRegistry();
  }

  spec(language: Language): LanguageSpec {
    // A record's language comes from a store another process wrote: `constructor` must not find Object.
    const spec = Object.hasOwn(LANGUAGE_SPECS, language) ? LANGUAGE_SPECS[language] : undefined;
    if (!spec) throw new SliceFailure('unsupported_language', `no grammar registered for ${language}; slicing supports ${Object.keys(LANGUAGE_SPECS).join(', ')}`);
    return spec;
  }

  async parser(language: Language): Promise<Parser> {
    let parser = this.parsers.get(language);
    if (parser) return parser;
    const grammar = await this.grammar(language);
    parser = this.parsers.get(language);
    if (parser) return parser;
    parser = new Parser();
    parser.setLanguage(grammar);
    this.parsers.set(language, parser);
    return parser;
  }

  /** The language's calls, imports and comments queries (libs/slicing/data/queries), compiled once. */
  async queries(language: Language): Promise<LanguageQueries> {
    let queries = compiled.get(language);
    if (queries) return queries;
    const grammar = await this.grammar(language);
    queries = compiled.get(language);
    if (queries) return queries;
    queries = compileQueries(grammar, language);
    compiled.set(language, queries);
    return queries;
  }

  private async grammar(language: Language): Promise<Grammar> {
    const spec = this.spec(language);
    let grammar = grammars.get(language);
    if (!grammar) {
      grammar = Grammar.load(loadBytes(spec.wasm));
      grammars.set(language, grammar);
    }
    try {
      return await grammar;
    } catch (err) {
      throw new SliceFailure('unsupported_language', `the ${language} grammar (${spec.wasm}) does not load: ${(err as Error).message}`);
    }
  }

  /**
   * Parses under the limits: oversized input is refused before parsing, and parsing is cancelled
   * once the meter's budget is spent (the work of one function shares one meter). The caller
   * deletes the tree.
   */
  async parse(language: Language, code: string, limits: ParseLimits, meter: WorkMeter = meterFor(limits)): Promise<Tree> {
    checkSize(code, limits);
    const parser = await this.parser(language);
    let cancelled = false;
    const tree = parser.parse(code, null, {
      progressCallback: (() => (cancelled = meter.charge(STEPS_PER_PROGRESS_CALLBACK) !== undefined)) as () => void,
    });
    if (!tree) {
      parser.reset();
      if (cancelled) throw meter.failure();
      throw new SliceFailure('parse_error', 'the parser returned no tree');
    }
    return tree;
  }
}

export function checkSize(code: string, limits: ParseLimits): void {
  const bytes = Buffer.byteLength(code);
  if (bytes > limits.maxBytes) throw new SliceFailure('too_large', `${bytes} bytes, over the limit of ${limits.maxBytes}`);
  let lines = 1;
  let lineStart = 0;
  for (let i = 0; i <= code.length; i += 1) {
    if (i === code.length || code.charCodeAt(i) === 10) {
      if (i - lineStart > limits.maxLineLength) throw new SliceFailure('too_large', `line ${lines} is ${i - lineStart} characters long, over the limit of ${limits.maxLineLength}`);
      lines += 1;
      lineStart = i + 1;
    }
  }
  if (lines - 1 > limits.maxLines) throw new SliceFailure('too_large', `${lines - 1} lines, over the limit of ${limits.maxLines}`);
}
