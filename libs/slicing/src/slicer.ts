import { createHash } from 'node:crypto';
import { diffLines } from 'diff';
import type { Tree } from 'web-tree-sitter';
import type { FixRecord, Language } from '@rescue/domain';
import { type ApiCall, extractApiCalls, extractImports, extractProse } from './api-calls';
import { type DependenceGraph, buildDependenceGraph } from './dependence-graph';
import { type FunctionUnit, extractFunctions } from './function-units';
import { LANGUAGE_SPECS, type LanguageSpec } from './language-specs';
import { DEFAULT_LIMITS, type ParseLimits, ParserRegistry, meterFor } from './parsers';
import { SliceFailure, type SliceFailureClass } from './slice-failure';
import type { LanguageQueries } from './syntax-queries';
import type { WorkMeter } from './work-meter';

/**
 * Bumped whenever slicing output changes, so content-addressed slice ids change with it.
 * pdg-4: the work budget (WorkMeter) replaced the wall-clock deadline. A record's outcome may
 * change (a former `timeout` is now a slice or `too_complex`), and a slice store written by pdg-3
 * may hold `timeout` failures of a busy machine that a rebuild would otherwise reuse for ever.
 */
export const SLICER_VERSION = 'pdg-4';

export type { FunctionUnit } from './function-units';

export interface VersionSlice {
  /** The sliced code: original lines in order, with an elision comment where lines were dropped. */
  code: string;
  /** 1-based lines of the function kept in the slice. */
  lines: number[];
  /** Points of interest: the lines the fix changed in this version. */
  poi: number[];
  /** Non-blank lines of the whole function, and of the slice. */
  functionLines: number;
  sliceLines: number;
  /** The slice re-parses without syntax errors; and so does the whole function (for comparison). */
  valid: boolean;
  functionValid: boolean;
  apiCalls: ApiCall[];
}

export interface RecordSlice {
  id: string;
  recordId: string;
  language: Language;
  cwe: string;
  hops: number;
  slicerVersion: string;
  vulnerable: VersionSlice;
  secure: VersionSlice;
}

export interface SliceFailureReport {
  recordId: string;
  language: Language;
  cwe: string;
  failureClass: SliceFailureClass;
  message: string;
}

/**
 * A record's slice or its classified failure, with the work it took (WorkMeter steps: the same on
 * any machine at any load; not part of the slice, so not stored with it).
 */
export type SliceOutcome = ({ ok: true; slice: RecordSlice } | { ok: false; failure: SliceFailureReport }) & { work: number };

export function sliceId(recordId: string, hops: number): string {
  return createHash('sha256').update(`${recordId}:${SLICER_VERSION}:${hops}`).digest('hex').slice(0, 32);
}

// `\S` is any character trim() keeps (both go by ECMAScript's WhiteSpace and LineTerminator): the same test without a trimmed copy.
const NOT_WHITESPACE = /\S/;
const nonBlank = (line: string | undefined): boolean => line !== undefined && NOT_WHITESPACE.test(line);

/** Whether any of `lines[from]` up to (not including) `lines[to]` is not blank. */
function anyNonBlank(lines: string[], from: number, to: number): boolean {
  for (let i = Math.max(0, from); i < Math.min(to, lines.length); i += 1) if (NOT_WHITESPACE.test(lines[i])) return true;
  return false;
}

/**
 * Real functions often hold a few unparsable bits (C macros, fragments), which tree-sitter wraps
 * in ERROR nodes and the slicer works around; past this share of the bytes the input is not code
 * of the language at all (random bytes, another language) and slicing it would be noise.
 */
const MAX_ERROR_SHARE = 0.5;

/** Share of the bytes under top-level ERROR nodes. */
function errorShare(tree: Tree): number {
  const root = tree.rootNode;
  if (!root.hasError) return 0;
  const total = Math.max(1, root.endIndex - root.startIndex);
  let inError = 0;
  const stack = [root];
  while (stack.length > 0) {
    const node = stack.pop() as typeof root;
    if (node.type === 'ERROR') {
      inError += node.endIndex - node.startIndex;
      continue;
    }
    if (!node.hasError) continue;
    for (let i = 0; i < node.childCount; i += 1) {
      const c = node.child(i);
      if (c) stack.push(c);
    }
  }
  return inError / total;
}

interface Wrapper {
  prefix: string;
  suffix: string;
  when?: RegExp;
}

const NO_WRAPPER: Wrapper = { prefix: '', suffix: '' };

/** Lines of `text` (one more than its line feeds), counted without splitting it into strings. */
function lineCount(text: string): number {
  let lines = 1;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) lines += 1;
  return lines;
}

/** The graph with every line number moved up by `offset` and clipped to the function's lines. */
function shiftLines(graph: DependenceGraph, offset: number, maxLine: number): DependenceGraph {
  if (offset === 0) return graph;
  const inside = (l: number): boolean => l >= 1 && l <= maxLine;
  for (const s of graph.statements) {
    s.ownLines = s.ownLines.map((l) => l - offset).filter(inside);
    s.startRow -= offset;
    s.endRow -= offset;
  }
  const lineOwner = new Map<number, number>();
  for (const [l, id] of graph.lineOwner) if (inside(l - offset)) lineOwner.set(l - offset, id);
  const codeLines = new Set([...graph.codeLines].map((l) => l - offset).filter(inside));
  return { ...graph, lineOwner, codeLines };
}

interface Analysed {
  lines: string[];
  graph: DependenceGraph;
  tree: Tree;
  valid: boolean;
  wrapper: Wrapper;
}

/** Nodes within `hops` edges of the start set, following `edges`. */
function reach(start: Iterable<number>, edges: ReadonlySet<number>[], hops: number): Set<number> {
  const seen = new Set(start);
  let frontier = [...seen];
  for (let h = 0; h < hops && frontier.length > 0; h += 1) {
    const next: number[] = [];
    for (const n of frontier)
      for (const m of edges[n])
        if (!seen.has(m)) {
          seen.add(m);
          next.push(m);
        }
    frontier = next;
  }
  return seen;
}

/** Statements longer than this show their head and tail only (a 1,400-line static table, a long literal). */
const MAX_STATEMENT_LINES = 8;
const PUNCTUATION_LINE = /^[\s{}()[\];,:]*(else|end|do|then|begin|ensure|finally|try)?[\s{}()[\];,:]*$/;

/**
 * The lines a kept statement contributes: all of its own lines when it is short; otherwise its
 * head (up to its first nested statement, at most 3 lines), its tail (at most 2), the
 * punctuation-only lines between nested statements (`} else {`, `end`) and any point of interest.
 */
function visibleLines(graph: DependenceGraph, id: number, source: string[], poi: Set<number>): number[] {
  const s = graph.statements[id];
  // `if (p == NULL) return -1;` on one line: the nested return owns the line, and the guard is it.
  if (s.ownLines.length === 0) return s.startRow + 1 >= 1 && graph.lineOwner.has(s.startRow + 1) ? [s.startRow + 1] : [];
  if (s.ownLines.length <= MAX_STATEMENT_LINES) return s.ownLines;
  const kids = s.children.map((c) => graph.statements[c]);
  const firstChild = kids.length > 0 ? kids[0].startRow + 1 : Number.POSITIVE_INFINITY;
  const lastChild = kids.length > 0 ? kids[kids.length - 1].endRow + 1 : Number.NEGATIVE_INFINITY;
  const head = s.ownLines.filter((l) => l < firstChild).slice(0, kids.length > 0 ? 3 : 2);
  const tail = s.ownLines.filter((l) => l > lastChild).slice(-2);
  const between = s.ownLines.filter((l) => l >= firstChild && l <= lastChild && (poi.has(l) || PUNCTUATION_LINE.test(source[l - 1] ?? '')));
  const own = new Set(s.ownLines);
  return [...head, ...between, ...tail, ...[...poi].filter((l) => own.has(l))];
}

/** Adds the lines of every statement enclosing a kept line (signature, block headers, braces). */
function closeOverAncestors(lines: Set<number>, graph: DependenceGraph, source: string[], poi: Set<number>): void {
  const added = new Set<number>();
  for (const line of lines) {
    let s = graph.lineOwner.get(line);
    while (s !== undefined && s > 0) {
      const parent = graph.statements[s].parent;
      if (added.has(parent)) break;
      added.add(parent);
      s = parent;
    }
  }
  for (const id of added) for (const l of visibleLines(graph, id, source, poi)) lines.add(l);
  // A dropped `else` whose first line also closes the kept branch (`} else {`) keeps that line
  // and its closing brace, so the slice's braces still balance.
  for (const id of added) {
    for (const c of graph.statements[id].children) {
      const clause = graph.statements[c];
      const first = clause.startRow + 1;
      if (!clause.isClause || lines.has(first) || !/^\s*}/.test(source[first - 1] ?? '')) continue;
      lines.add(first);
      const last = clause.ownLines[clause.ownLines.length - 1];
      if (last !== undefined && /^\s*}\s*$/.test(source[last - 1] ?? '')) lines.add(last);
    }
  }
}

/**
 * A line diff costs about (lines of both) × (lines changed) comparisons (Myers), unbounded by the
 * parse limits: two unrelated 20,000-line functions would take minutes. It is charged at this many
 * comparisons per step, and cut off where it would pass the budget.
 */
const DIFF_COMPARISONS_PER_STEP = 8;

/**
 * Unchanged lines of before and after, paired by a line diff charged to the meter: `b2a[l]` is
 * the line of after that line `l` of before is (0 when it changed), and `a2b` the other way.
 */
function alignUnchanged(before: string, after: string, meter: WorkMeter): { b2a: Int32Array; a2b: Int32Array } {
  const eol = (s: string): string => (s.endsWith('\n') ? s : `${s}\n`);
  const beforeLines = lineCount(before);
  const afterLines = lineCount(after);
  const size = beforeLines + afterLines;
  const parts = diffLines(eol(before), eol(after), { maxEditLength: Math.floor((meter.remaining * DIFF_COMPARISONS_PER_STEP) / size) + 1 });
  if (!parts) throw new SliceFailure('too_complex', `the two versions differ in too many of their ${size} lines to be paired within the work budget`);
  const changed = parts.reduce((n, p) => n + (p.added || p.removed ? (p.count ?? 0) : 0), 0);
  meter.spend(Math.ceil((size * Math.max(1, changed)) / DIFF_COMPARISONS_PER_STEP));
  // Tables by line number (the diff counts at most lineCount lines of each), not maps.
  const b2a = new Int32Array(beforeLines + 2);
  const a2b = new Int32Array(afterLines + 2);
  let b = 1;
  let a = 1;
  for (const part of parts) {
    const n = part.count ?? 0;
    if (part.added) a += n;
    else if (part.removed) b += n;
    else {
      for (let i = 0; i < n; i += 1) {
        b2a[b + i] = a + i;
        a2b[a + i] = b + i;
      }
      a += n;
      b += n;
    }
  }
  return { b2a, a2b };
}

/**
 * RESCUE's security-focused slicing (paper §3.4): for each version of a fix, the changed lines
 * (points of interest) plus every statement within `hops` dependence edges of them, backward and
 * forward; the two slices are then cross-completed through the unchanged lines so they stay
 * parallel, and completed with the function signature and the headers of enclosing blocks.
 */
export class Slicer {
  private constructor(
    private readonly registry: ParserRegistry,
    private readonly limits: ParseLimits,
  ) {}

  static async create(limits: Partial<ParseLimits> = {}): Promise<Slicer> {
    return new Slicer(await ParserRegistry.create(), { ...DEFAULT_LIMITS, ...limits });
  }

  supports(language: Language): boolean {
    try {
      this.registry.spec(language);
      return true;
    } catch (err) {
      if (err instanceof SliceFailure) return false;
      throw err;
    }
  }

  /**
   * Loads the grammars and compiles the queries of `languages` at once, before any is parsed with:
   * what a batch of records of several languages calls first. A grammar is instantiated
   * asynchronously, and one loaded after another grammar has parsed waited behind the optimizing
   * compiler's work on the code that just ran: 13 records in C, C++, JavaScript and Python took
   * about 0.15–0.25 s more for each of C++ and JavaScript, loaded one after the other's first parse.
   * A grammar that fails to load fails here silently and again, classified, for each of its
   * records in {@link sliceRecord} (its rejection is kept): that is where its records learn it.
   */
  async prepare(languages: Iterable<Language>): Promise<void> {
    await Promise.all(
      [...new Set(languages)]
        .filter((l) => this.supports(l))
        .map(async (language) => {
          try {
            await this.registry.parser(language);
            await this.registry.queries(language);
          } catch (err) {
            if (!(err instanceof SliceFailure)) throw err;
          }
        }),
    );
  }

  /**
   * Loads the grammars of `languages`, by default every supported one, into this thread and
   * compiles their queries, which stay for the process's life (see parsers.ts). Called when
   * slicing threads start, while this thread waits on them:
   * V8 shares a WebAssembly module's compiled code between the threads of a process that compile
   * the same bytes, so a grammar this thread holds takes the optimized code the threads' parsing
   * produces, and keeps it after they end. A later build's few records, sliced in this thread,
   * then parse with that code instead of compiling the grammars again on the optimizing
   * compiler's threads: 13 records of a +1% rebuild after a full build cost 0.5–0.7 s of
   * background compilation, beside the main thread, and the first parses ran 2–3× slower. Their
   * queries, compiled here too, were another 45–55 ms of that rebuild's main thread.
   * Failures are left to the records of that language (as in {@link prepare}).
   */
  async loadGrammars(languages: Iterable<Language> = Object.keys(LANGUAGE_SPECS) as Language[]): Promise<void> {
    await this.prepare(languages);
  }

  /** Slices one record; every failure is returned classified, never thrown. */
  async sliceRecord(record: FixRecord, hops = 2): Promise<SliceOutcome> {
    const trees: Tree[] = [];
    let meter: WorkMeter | undefined;
    try {
      const spec = this.registry.spec(record.language);
      const queries = await this.registry.queries(record.language);
      // Loading the grammar (the first record of a language) is not this record's work: it is done
      // before the meter (and its wall-clock safety net) starts.
      await this.registry.parser(record.language);
      // One meter for the whole record: its outcome is decided by the work of both versions.
      meter = meterFor(this.limits);
      const before = await this.analyse(record.language, spec, queries, record.before, meter, trees);
      const after = await this.analyse(record.language, spec, queries, record.after, meter, trees);
      const poiV = record.changedLines.deleted.filter((l) => l <= before.lines.length);
      const poiS = record.changedLines.added.filter((l) => l <= after.lines.length);
      const keptV = this.select(before, poiV, hops);
      const keptS = this.select(after, poiS, hops);

      // Cross-completion: what one version keeps of the unchanged code, the other keeps too.
      const { b2a, a2b } = alignUnchanged(record.before, record.after, meter);
      const poiSetV = new Set(poiV);
      const poiSetS = new Set(poiS);
      for (let round = 0; round < 4; round += 1) {
        const sizeV = keptV.size;
        const sizeS = keptS.size;
        for (const l of [...keptV]) {
          const m = b2a[l];
          if (m > 0) keptS.add(m);
        }
        for (const l of [...keptS]) {
          const m = a2b[l];
          if (m > 0) keptV.add(m);
        }
        closeOverAncestors(keptV, before.graph, before.lines, poiSetV);
        closeOverAncestors(keptS, after.graph, after.lines, poiSetS);
        if (keptV.size === sizeV && keptS.size === sizeS) break;
      }
      const vulnerable = await this.render(record.language, spec, queries, before, keptV, poiV, meter, trees);
      const secure = await this.render(record.language, spec, queries, after, keptS, poiS, meter, trees);
      return {
        ok: true,
        slice: { id: sliceId(record.id, hops), recordId: record.id, language: record.language, cwe: record.cwe, hops, slicerVersion: SLICER_VERSION, vulnerable, secure },
        work: meter.used,
      };
    } catch (err) {
      if (err instanceof SliceFailure) {
        return { ok: false, failure: { recordId: record.id, language: record.language, cwe: record.cwe, failureClass: err.failureClass, message: err.message }, work: meter?.used ?? 0 };
      }
      throw err;
    } finally {
      for (const t of trees) t.delete();
    }
  }

  /** API calls in any code (a draft, a task's prefix, a KB example), for a registered language. */
  async apiCalls(language: Language, code: string): Promise<ApiCall[]> {
    return this.readTree(language, code, (tree, _spec, queries, meter) => extractApiCalls(tree, queries, meter));
  }

  /**
   * What code says about the APIs it uses: its calls and the modules it imports, from one parse.
   * This is the API facet's query (paper §4.1) for a draft or, offline, for a task's prefix.
   */
  async apiReferences(language: Language, code: string): Promise<ApiCall[]> {
    return this.readTree(language, code, (tree, _spec, queries, meter) => {
      const calls = extractApiCalls(tree, queries, meter);
      const known = new Set(calls.map((c) => c.callee));
      return [...calls, ...extractImports(tree, queries, meter).filter((i) => !known.has(i.callee))];
    });
  }

  /** The comments and docstrings of some code, markers stripped (empty when it has none). */
  async prose(language: Language, code: string): Promise<string> {
    return this.readTree(language, code, (tree, _spec, queries, meter) => extractProse(tree, queries, meter));
  }

  /**
   * The definitions of a source file that are not nested in another one, in source order:
   * functions, the methods of classes, closures held by a top-level statement (`const f = () => …`,
   * an Express route), Java's bare blocks; each with the comment lines directly above it. Empty
   * for a language without a grammar here (C#, PHP, …).
   *
   * @throws SliceFailure when the code is over the parse limits (size, work, time).
   */
  async functions(language: Language, code: string): Promise<FunctionUnit[]> {
    if (!this.supports(language)) return [];
    return this.readTree(language, code, (tree, spec, queries, meter) => extractFunctions(tree, spec, queries, code, undefined, meter));
  }

  /** Parses code under the slicer's limits, reads the tree, and frees it (WASM memory). */
  private async readTree<T>(language: Language, code: string, read: (tree: Tree, spec: LanguageSpec, queries: LanguageQueries, meter: WorkMeter) => T): Promise<T> {
    const spec = this.registry.spec(language);
    const meter = meterFor(this.limits);
    const tree = await this.registry.parse(language, code, this.limits, meter);
    try {
      return read(tree, spec, await this.registry.queries(language), meter);
    } finally {
      tree.delete();
    }
  }

  private async analyse(language: Language, spec: LanguageSpec, queries: LanguageQueries, code: string, meter: WorkMeter, trees: Tree[]): Promise<Analysed> {
    // Dataset functions are sometimes fragments of a larger construct (an object-literal method,
    // a class method, a function whose leading comment was cut). Each language lists wrappers
    // that make such a fragment parse; the least erroneous reading wins, and line numbers are
    // shifted back so nothing outside the function is ever shown.
    let best: { tree: Tree; source: string; share: number; score: number; wrapper: Wrapper } | undefined;
    for (const wrapper of [NO_WRAPPER, ...(spec.fragmentWrappers ?? [])]) {
      if (best && !best.tree.rootNode.hasError) break;
      if (wrapper.when && !wrapper.when.test(code)) continue;
      const source = `${wrapper.prefix}${code}${wrapper.suffix}`;
      const tree = await this.registry.parse(language, source, this.limits, meter);
      trees.push(tree);
      const share = errorShare(tree);
      // Fewest bytes in ERROR nodes wins; on a tie, a tree without MISSING tokens; then the plain parse.
      const score = share + (tree.rootNode.hasError ? 1e-6 : 0);
      if (!best || score < best.score) best = { tree, source, share, score, wrapper };
    }
    const { tree, source, share, wrapper } = best as NonNullable<typeof best>;
    if (share > MAX_ERROR_SHARE) throw new SliceFailure('parse_error', `${Math.round(share * 100)}% of the code does not parse as ${language}`);
    const offset = lineCount(wrapper.prefix) - 1;
    const lines = code.split('\n');
    const graph = shiftLines(buildDependenceGraph(tree, spec, queries, { meter, maxDepth: this.limits.maxDepth }, source), offset, lines.length);
    if (graph.statements.length <= 1) throw new SliceFailure('parse_error', 'no statements found: the code does not parse as a function of this language');
    return { lines, graph, tree, valid: !tree.rootNode.hasError, wrapper };
  }

  private select(version: Analysed, poi: number[], hops: number): Set<number> {
    const graph = version.graph;
    const poiSet = new Set(poi);
    const start = new Set<number>();
    for (const line of poi) {
      const owner = graph.lineOwner.get(line);
      if (owner !== undefined && owner > 0) start.add(owner);
    }
    const nodes = new Set([...reach(start, graph.backward, hops), ...reach(start, graph.forward, hops)]);
    const lines = new Set<number>(poi);
    for (const id of nodes) for (const l of visibleLines(graph, id, version.lines, poiSet)) lines.add(l);
    closeOverAncestors(lines, graph, version.lines, poiSet);
    return lines;
  }

  private async render(language: Language, spec: LanguageSpec, queries: LanguageQueries, version: Analysed, kept: Set<number>, poi: number[], meter: WorkMeter, trees: Tree[]): Promise<VersionSlice> {
    const lines = [...kept].filter((l) => l >= 1 && l <= version.lines.length).sort((a, b) => a - b);
    const out: string[] = [];
    let previous = 0;
    for (const l of lines) {
      const skipped = anyNonBlank(version.lines, previous, l - 1);
      if (skipped) {
        const indent = /^\s*/.exec(version.lines[l - 1])?.[0] ?? '';
        out.push(`${indent}${spec.lineComment} ...`);
      }
      out.push(version.lines[l - 1]);
      previous = l;
    }
    if (anyNonBlank(version.lines, previous, version.lines.length)) out.push(`${spec.lineComment} ...`);
    const code = out.join('\n');
    const { prefix, suffix } = version.wrapper;
    // The slice is never larger than the function, so the size limits are not checked again.
    const tree = await this.registry.parse(language, `${prefix}${code}${suffix}`, { ...this.limits, maxBytes: Number.MAX_SAFE_INTEGER, maxLines: Number.MAX_SAFE_INTEGER }, meter);
    trees.push(tree);
    return {
      code,
      lines,
      poi,
      functionLines: version.lines.filter(nonBlank).length,
      sliceLines: lines.filter((l) => nonBlank(version.lines[l - 1])).length,
      valid: !tree.rootNode.hasError,
      functionValid: version.valid,
      apiCalls: extractApiCalls(tree, queries, meter),
    };
  }
}
