import { basename } from 'node:path';
import { type CodeqlQueryHelp, type CodeqlSample, type RejectCode, fixRecordId, normalizeGenericRecord } from '@rescue/datasets';
import type { CweId, FixRecord, Language, RecordOrigin } from '@rescue/domain';
import type { FunctionUnit } from '@rescue/slicing';

/*
 * CodeQL's help examples as knowledge. A query's samples show the weakness and, usually, its fix:
 * in two files (`tarslip_bad.py`, `tarslip_good.py`; `UnsafeDeserialization.java` and
 * `UnsafeDeserializationGood.java`), or in one file whose parts are marked `// BAD` and `// GOOD`
 * (as separate functions, or as marked statements of one function). Each bad part paired with a
 * good one is a fix record; a bad part with no good one is a vulnerable-only example.
 */

/** Anything that splits a source file into its top-level definitions; the `Slicer` does. */
export interface FunctionSplitter {
  functions(language: Language, code: string): Promise<FunctionUnit[]>;
}

/** How a record's before and after were found. */
export type CodeqlPairing = 'files' | 'functions' | 'regions';

/** Code that shows a weakness without a fix beside it (a bad sample or part with no good partner). */
export interface VulnerableExample {
  /** Content id, as for records: `fixRecordId(language, cwe, code, '')` (a record never has an empty after). */
  id: string;
  language: Language;
  cwe: CweId;
  code: string;
  functionName?: string;
  description?: string;
  filePath: string;
  origin: RecordOrigin;
}

/** Where a record or vulnerable example came from, beyond what `FixRecord` holds. */
export interface CodeqlProvenance {
  /** The record's or the example's id. */
  id: string;
  kind: 'record' | 'vulnerable-only';
  /** How the pair was found; for a vulnerable-only example, where its code came from. */
  pairing: CodeqlPairing;
  /** Every query whose help shows this code (queries of one weakness share examples), in reading order. */
  queryIds: string[];
  helpPaths: string[];
  /** The CWEs of those queries, each once; the record carries the first, the first query's main weakness. */
  cwes: CweId[];
  /** The good sample's path, when it is another file than the record's. */
  afterPath?: string;
}

export type CodeqlPairProblemKind = 'unknown-language' | 'split-failed' | RejectCode;

export interface CodeqlPairProblem {
  file: string;
  line?: number;
  kind: CodeqlPairProblemKind;
  message: string;
}

export interface CodeqlFixPairs {
  records: FixRecord[];
  vulnerableOnly: VulnerableExample[];
  /** One entry per record and per vulnerable example, in the order they were found; look them up by `id`. */
  provenance: CodeqlProvenance[];
  problems: CodeqlPairProblem[];
}

type Role = 'bad' | 'good';

/** File-name words that say which side a sample shows (`tarslip_bad.py`, `CookieFix.cs`, `DisablingSce_better.js`). */
const NAME_WORDS: Record<Role, ReadonlySet<string>> = {
  bad: new Set(['bad', 'unsafe', 'vulnerable', 'insecure', 'wrong', 'incorrect', 'broken']),
  good: new Set(['good', 'safe', 'safer', 'fixed', 'fix', 'secure', 'correct', 'sanitized', 'ok', 'better']),
};

/**
 * A BAD or GOOD marker: the first word of a comment (`// BAD`, `#GOOD:`, `/* BAD *\/`, `<!-- GOOD! -->`,
 * a `*` line of a block comment), case-insensitive. A marker elsewhere in a comment (`// MAYBE BAD`)
 * is prose, not a label.
 */
const MARKER = /(?:\/\/|#|\/\*|<!--|^[ \t]*\*)[ \t*#/!-]*\b(bad|good)\b/gim;
const LEADING_MARKER = /^[ \t]*(?:\/\/|#|\/\*|<!--|\*)[ \t*#/!-]*(bad|good)\b/i;
/** A line that stands for left-out code (`...`, `// ...`): it separates examples like a blank line. */
const ELISION = /^[ \t]*(?:(?:\/\/|#)[ \t]*)?(?:\.\.\.|…)[ \t]*$/;

// ---------------------------------------------------------------------------------------------
// Words and markers.

/** Lowercase words of a name: split at punctuation, camelCase humps and digits (`UnsafeXMLParser2` → unsafe, xml, parser, 2). */
function nameTokens(name: string): string[] {
  return name
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .replace(/([A-Za-z])(\d)/g, '$1 $2')
    .replace(/(\d)([A-Za-z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((t) => t !== '');
}

/**
 * The side a name tells, by its last side word (`ConstantOauth2StateBad` → bad;
 * `UnsafeDeserializationGood` → good). Words of the query's own name, where the name spells it out
 * whole, do not count: `BrokenCryptoAlgorithm.js` names the query, it does not say it is broken
 * code (but `RmiUnsafeRemoteObject.java`, under `UnsafeDeserializationRmi`, does).
 */
function roleOfName(tokens: readonly string[], queryTokens: readonly string[]): Role | undefined {
  const masked = queryNameAt(tokens, queryTokens);
  for (let i = tokens.length - 1; i >= 0; i -= 1) {
    if (masked !== undefined && i >= masked && i < masked + queryTokens.length) continue;
    if (NAME_WORDS.bad.has(tokens[i])) return 'bad';
    if (NAME_WORDS.good.has(tokens[i])) return 'good';
  }
  return undefined;
}

/** Where the query's name occurs whole in a name's words, if it does. */
function queryNameAt(tokens: readonly string[], queryTokens: readonly string[]): number | undefined {
  if (queryTokens.length === 0) return undefined;
  for (let i = 0; i + queryTokens.length <= tokens.length; i += 1) {
    if (queryTokens.every((t, j) => tokens[i + j] === t)) return i;
  }
  return undefined;
}

const isSideWord = (t: string): boolean => NAME_WORDS.bad.has(t) || NAME_WORDS.good.has(t);

function markersIn(text: string): Set<Role> {
  const roles = new Set<Role>();
  for (const m of text.matchAll(MARKER)) roles.add(m[1].toLowerCase() as Role);
  return roles;
}

const roleOfMarkers = (roles: Set<Role>): Role | 'both' | undefined => (roles.size === 2 ? 'both' : ([...roles][0] as Role | undefined));

// ---------------------------------------------------------------------------------------------
// Pieces of code and their pairing.

/** A bad or good piece of a sample: the whole file, one function, or a function with one marked region. */
interface Piece {
  role: Role;
  code: string;
  sample: CodeqlSample;
  language: Language;
  /** 1-based line in the sample where the piece's scope starts (its function, or 1). */
  line: number;
  name?: string;
  pairing: CodeqlPairing;
  /** Order within the sample, for pairing by position. */
  order: number;
}

interface Pair {
  bad: Piece;
  good?: Piece;
}

/** What a piece is called when pairing: its function's name, else its file's. */
const pieceWords = (piece: Piece): string[] => nameTokens(piece.pairing === 'files' ? basename(piece.sample.path) : (piece.name ?? '')).filter((t) => !isSideWord(t));

/**
 * Pairs each bad piece with the good piece most like it: most shared name words, then fewest
 * extra words in the good one, then the nearest by position (a following one first).
 */
function pairPieces(bads: readonly Piece[], goods: readonly Piece[]): Pair[] {
  return bads.map((bad) => {
    const badWords = new Set(pieceWords(bad));
    let best: { piece: Piece; key: number[] } | undefined;
    for (const good of goods) {
      if (good.language !== bad.language) continue;
      const words = pieceWords(good);
      const shared = words.filter((w) => badWords.has(w)).length;
      const distance = good.order - bad.order;
      // Bigger is better, position by position.
      const key = [shared, -(words.length - shared), -Math.abs(distance), distance > 0 ? 1 : 0];
      if (!best || compareKeys(key, best.key) > 0) best = { piece: good, key };
    }
    return { bad, good: best?.piece };
  });
}

function compareKeys(a: number[], b: number[]): number {
  for (let i = 0; i < a.length; i += 1) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}

// ---------------------------------------------------------------------------------------------
// One file with both markers: by function, else by marked region.

interface Region {
  /** 0-based, inclusive. */
  start: number;
  end: number;
  role: Role;
}

const indentOf = (line: string): number => /^[ \t]*/.exec(line)?.[0].length ?? 0;
const isBreak = (line: string | undefined): boolean => line === undefined || line.trim() === '' || ELISION.test(line);

interface LineMarker {
  role: Role;
  /** The line is only the comment (else the marker follows code on the line). */
  leading: boolean;
}

function lineMarker(line: string): LineMarker | undefined {
  const role = roleOfMarkers(markersIn(line));
  if (role === undefined || role === 'both') return undefined;
  return { role, leading: LEADING_MARKER.test(line) };
}

/**
 * The marked regions of some code. A comment line starting with a marker labels the lines after it
 * up to the next marker at its level, the end of its block, or a blank (or `...`) line after which
 * the code is back at its level. A marker after code labels that line's paragraph when the
 * paragraph has no other marker, else that line alone.
 */
function markedRegions(lines: readonly string[]): Region[] {
  const markers = lines.map(lineMarker);
  const regions: Region[] = [];
  markers.forEach((marker, i) => {
    if (marker && !regions.some((r) => i >= r.start && i <= r.end)) regions.push(regionAt(lines, markers, i, marker));
  });
  return regions;
}

/** A ` * ` line inside a block comment (not its closing `*\/`). */
const COMMENT_BODY = /^[ \t]*\*(?!\/)/;

function regionAt(lines: readonly string[], markers: readonly (LineMarker | undefined)[], i: number, marker: LineMarker): Region {
  let start = i;
  // A marker on a ` * ` line of a block comment: the region starts at the comment's `/*`.
  if (marker.leading && COMMENT_BODY.test(lines[i])) {
    while (start > 0 && COMMENT_BODY.test(lines[start - 1])) start -= 1;
    if (start > 0 && /^[ \t]*\/\*/.test(lines[start - 1])) start -= 1;
  }
  const level = indentOf(lines[start]);
  const stopsAt = (j: number): boolean => {
    if (isBreak(lines[j])) return isBreak(lines[j + 1]) || j + 1 >= lines.length || nextCodeIndent(lines, j) <= level;
    return indentOf(lines[j]) < level || (markers[j] !== undefined && indentOf(lines[j]) <= level);
  };
  let end = i;
  while (end + 1 < lines.length && !stopsAt(end + 1)) end += 1;
  if (!marker.leading) {
    // A trailing marker: its paragraph, when that holds no other marker.
    while (start > 0 && !isBreak(lines[start - 1]) && indentOf(lines[start - 1]) >= level && markers[start - 1] === undefined) start -= 1;
    if (markers.slice(i + 1, end + 1).some((m) => m !== undefined)) end = i;
  }
  while (end > start && isBreak(lines[end])) end -= 1;
  return { start, end, role: marker.role };
}

function nextCodeIndent(lines: readonly string[], from: number): number {
  for (let j = from + 1; j < lines.length; j += 1) if (!isBreak(lines[j])) return indentOf(lines[j]);
  return -1;
}

/** The code with every marked region left out but `keep`. */
function withOnly(lines: readonly string[], regions: readonly Region[], keep: Region): string {
  const kept = lines.filter((_, i) => !regions.some((r) => r !== keep && i >= r.start && i <= r.end));
  return tidy(closeGaps(kept).join('\n'));
}

const BLOCK_OPENER = /^[ \t]*\{[ \t]*$/;
const BLOCK_CLOSER = /^[ \t]*(?:[}\])]+[;,)]*|end)[ \t]*$/;
const OPENS_BLOCK = /[{:][ \t]*$/;

/**
 * What leaving regions out leaves behind, tidied: one break for a run of blank and `...` lines, no
 * blank line just inside a block's braces, no emptied `{ }`. Both sides of a pair get the same
 * treatment, so the diff shows the regions, not the gaps.
 */
function closeGaps(lines: readonly string[]): string[] {
  const out: string[] = [];
  for (const line of lines) {
    const previous = out[out.length - 1];
    if (previous !== undefined && isBreak(previous) && isBreak(line)) {
      if (ELISION.test(line)) out[out.length - 1] = line;
      continue;
    }
    if (line.trim() === '' && previous !== undefined && OPENS_BLOCK.test(previous)) continue;
    if (BLOCK_CLOSER.test(line)) {
      while (out.length > 0 && out[out.length - 1].trim() === '') out.pop();
      if (out.length > 0 && BLOCK_OPENER.test(out[out.length - 1])) {
        out.pop();
        continue;
      }
    }
    out.push(line);
  }
  return out;
}

/**
 * Pieces from the marked regions of one scope (a function, or the whole file): one per region,
 * the scope with that region and without the others. None when the regions do not show both
 * sides (a line holding both markers labels nothing).
 */
function regionPieces(code: string, scope: { sample: CodeqlSample; language: Language; line: number; name?: string }, orderBase: number): Piece[] {
  const lines = code.split('\n');
  const regions = markedRegions(lines);
  if (!regions.some((r) => r.role === 'bad') || !regions.some((r) => r.role === 'good')) return [];
  return regions.map((r, i) => ({ ...scope, role: r.role, code: withOnly(lines, regions, r), pairing: 'regions', order: orderBase + i }));
}

/**
 * A file holding both markers: its functions when each shows one side; a function showing both
 * is split into its marked regions; so is the whole file when some marker lies outside every
 * function (snippets of statements, a language without a grammar here).
 */
async function splitMarkedSample(sample: CodeqlSample, language: Language, splitter: FunctionSplitter): Promise<Piece[]> {
  const units = await splitter.functions(language, sample.code);
  const lines = sample.code.split('\n');
  const markerLines = lines.flatMap((l, i) => (lineMarker(l) ? [i + 1] : []));
  const covers = (u: FunctionUnit, line: number): boolean => line >= u.startLine - (u.leadingComment?.split('\n').length ?? 0) && line <= u.endLine;
  if (units.length === 0 || !markerLines.every((l) => units.some((u) => covers(u, l)))) {
    return regionPieces(sample.code, { sample, language, line: 1 }, 0);
  }
  const pieces: Piece[] = [];
  units.forEach((unit, i) => {
    const role = roleOfMarkers(markersIn(`${unit.leadingComment ?? ''}\n${unit.code}`));
    const scope = { sample, language, line: unit.startLine, name: unit.name };
    if (role === 'both') pieces.push(...regionPieces(unit.code, scope, i * 1000));
    else if (role) pieces.push({ ...scope, role, code: tidy(unit.code), pairing: 'functions', order: i * 1000 });
  });
  return pieces;
}

/**
 * A file without markers or a telling name: its functions when their names tell both sides
 * (`unsafe` and `safe1`, `bad_server` and `good_server`); else nothing.
 */
async function splitByFunctionNames(sample: CodeqlSample, language: Language, splitter: FunctionSplitter, queryTokens: readonly string[]): Promise<Piece[]> {
  const pieces = (await splitter.functions(language, sample.code)).flatMap((unit, i): Piece[] => {
    const role = roleOfName(nameTokens(unit.name ?? ''), queryTokens);
    return role ? [{ role, code: tidy(unit.code), sample, language, line: unit.startLine, name: unit.name, pairing: 'functions', order: i }] : [];
  });
  return pieces.some((p) => p.role === 'bad') && pieces.some((p) => p.role === 'good') ? pieces : [];
}

/** Pairs within one file: functions with functions, and the regions of one scope with each other. */
function pairWithinSample(pieces: readonly Piece[]): Pair[] {
  const byScope = new Map<string, Piece[]>();
  for (const p of pieces) {
    const key = p.pairing === 'regions' ? `regions:${p.line}` : 'functions';
    byScope.set(key, [...(byScope.get(key) ?? []), p]);
  }
  return [...byScope.values()].flatMap((group) =>
    pairPieces(
      group.filter((p) => p.role === 'bad'),
      group.filter((p) => p.role === 'good'),
    ),
  );
}

// ---------------------------------------------------------------------------------------------
// A query's samples.

type SampleSide = Role | 'mixed' | undefined;

interface ClassifiedSample {
  sample: CodeqlSample;
  language: Language;
  side: SampleSide;
  tokens: string[];
}

/**
 * The side of each sample: by its file name's words, else by the markers in it, else as the
 * counterpart of a sample whose name is its own plus a side word (`X.js` beside `XGood.js` is the
 * bad one; `InsecureTemporaryFile.py` beside `SecureTemporaryFile.py` too).
 */
function classifySamples(samples: { sample: CodeqlSample; language: Language }[], queryTokens: readonly string[]): ClassifiedSample[] {
  const classified = samples.map(({ sample, language }): ClassifiedSample => {
    const inline = sample.line !== undefined;
    const tokens = inline ? [] : nameTokens(basename(sample.path));
    const marked = roleOfMarkers(markersIn(sample.code));
    const side: SampleSide = marked === 'both' ? 'mixed' : (roleOfName(tokens, queryTokens) ?? marked);
    return { sample, language, side, tokens };
  });
  const plain = (tokens: readonly string[]): string => tokens.filter((t) => !isSideWord(t)).join(' ');
  for (const c of classified) {
    if (c.side !== undefined || c.tokens.length === 0) continue;
    const named = classified.find((o) => (o.side === 'bad' || o.side === 'good') && plain(o.tokens) === plain(c.tokens));
    if (named) c.side = named.side === 'bad' ? 'good' : 'bad';
  }
  return classified;
}

/**
 * The pairs of one query. A sample with neither markers nor a telling name is split when its
 * functions' names tell both sides; else it is the query's bad example when it is the query's
 * only code sample (a help page with one example shows the problem), and left out beside other
 * samples, whose side it does not tell.
 */
async function queryPairs(help: CodeqlQueryHelp, splitter: FunctionSplitter, problems: CodeqlPairProblem[]): Promise<Pair[]> {
  const code: { sample: CodeqlSample; language: Language }[] = [];
  for (const sample of help.samples) {
    if (sample.language) code.push({ sample, language: sample.language });
    else problems.push({ file: sample.path, line: sample.line, kind: 'unknown-language', message: `sample of ${help.queryId} in no language Rescue knows: left out` });
  }
  const queryTokens = nameTokens(basename(help.helpPath, '.qhelp'));
  const classified = classifySamples(code, queryTokens);
  const pairs: Pair[] = [];
  const split = async (c: ClassifiedSample, how: () => Promise<Piece[]>): Promise<Piece[]> => {
    try {
      return await how();
    } catch (err) {
      problems.push({ file: c.sample.path, kind: 'split-failed', message: `cannot split into functions: ${(err as Error).message}` });
      return [];
    }
  };
  for (const c of classified) {
    if (c.side === 'mixed') pairs.push(...pairWithinSample(await split(c, () => splitMarkedSample(c.sample, c.language, splitter))));
    if (c.side !== undefined) continue;
    const pieces = await split(c, () => splitByFunctionNames(c.sample, c.language, splitter, queryTokens));
    if (pieces.length > 0) {
      c.side = 'mixed';
      pairs.push(...pairWithinSample(pieces));
    }
  }
  if (classified.length === 1 && classified[0].side === undefined) classified[0].side = 'bad';
  const whole = (c: ClassifiedSample, role: Role, order: number): Piece => ({
    role,
    code: tidy(c.sample.code),
    sample: c.sample,
    language: c.language,
    line: firstCodeLine(c.sample.code),
    pairing: 'files',
    order,
  });
  const bads = classified.flatMap((c, i) => (c.side === 'bad' ? [whole(c, 'bad', i)] : []));
  const goods = classified.flatMap((c, i) => (c.side === 'good' ? [whole(c, 'good', i)] : []));
  return [...pairPieces(bads, goods), ...pairs];
}

// ---------------------------------------------------------------------------------------------

/** Leading blank lines and trailing white space removed; one final newline. */
function tidy(code: string): string {
  const trimmed = code.replace(/^(?:[ \t]*\n)+/, '').replace(/\s+$/, '');
  return trimmed === '' ? '' : `${trimmed}\n`;
}

function firstCodeLine(code: string): number {
  const lead = /^(?:[ \t]*\n)*/.exec(code)?.[0] ?? '';
  return lead.split('\n').length;
}

const describeQuery = (help: CodeqlQueryHelp): string => (help.description ? `${help.name}: ${help.description}` : help.name);

/**
 * CodeQL query help as knowledge: fix records from the queries' bad and good examples, and
 * vulnerable-only examples from bad examples without a good one.
 *
 * Pairing: separate files by their names' side words (`bad`, `unsafe`, … / `good`, `fixed`, …;
 * words of the query's own name do not count), else by `// BAD` / `// GOOD` comments in them, each
 * bad file with the good file whose name shares the most words with it. A file with both markers
 * is split with `splitter.functions`: each bad function with the most similar good one (name, then
 * position); a function (or a snippet file) holding both is split into its marked regions, and
 * each bad region's function is paired with the same function keeping the nearest good region.
 *
 * Each record is under the query's first CWE tag (its main weakness; the others are in
 * `provenance`), with `description` = name and description, `filePath`, `sourceUrl` and
 * `origin.file` = the bad sample's path and `origin.line` = its function's first line (else the
 * file's). Records are normalized as any dataset's, so ids are content hashes: the same help gives
 * the same records, and a pair shown by two queries under one CWE is kept once. A pair whose two
 * sides are equal is reported and skipped.
 */
export async function codeqlFixPairs(help: CodeqlQueryHelp | readonly CodeqlQueryHelp[], splitter: FunctionSplitter): Promise<CodeqlFixPairs> {
  const queries: readonly CodeqlQueryHelp[] = Array.isArray(help) ? help : [help as CodeqlQueryHelp];
  const out: CodeqlFixPairs = { records: [], vulnerableOnly: [], provenance: [], problems: [] };
  const known = new Map<string, CodeqlProvenance>();
  /** False when the id was seen before: the earlier entry then also names this query. */
  const isNew = (id: string, query: CodeqlQueryHelp): boolean => {
    const earlier = known.get(id);
    if (!earlier) return true;
    if (!earlier.queryIds.includes(query.queryId)) {
      earlier.queryIds.push(query.queryId);
      earlier.helpPaths.push(query.helpPath);
      earlier.cwes = [...new Set([...earlier.cwes, ...query.cwes])];
    }
    return false;
  };
  const remember = (entry: CodeqlProvenance): void => {
    known.set(entry.id, entry);
    out.provenance.push(entry);
  };
  for (const query of queries) {
    const cwe = query.cwes[0];
    if (!cwe) continue;
    for (const { bad, good } of await queryPairs(query, splitter, out.problems)) {
      const origin: RecordOrigin = { file: bad.sample.path, line: bad.sample.line ?? bad.line, format: 'codeql' };
      const from = { pairing: bad.pairing, queryIds: [query.queryId], helpPaths: [query.helpPath], cwes: [...query.cwes] };
      if (!good) {
        const id = fixRecordId(bad.language, cwe, bad.code, '');
        if (bad.code === '' || !isNew(id, query)) continue;
        out.vulnerableOnly.push({
          id,
          language: bad.language,
          cwe,
          code: bad.code,
          ...(bad.name ? { functionName: bad.name } : {}),
          description: describeQuery(query),
          filePath: bad.sample.path,
          origin,
        });
        remember({ id, kind: 'vulnerable-only', ...from });
        continue;
      }
      const result = normalizeGenericRecord(
        { language: bad.language, cwe, before: bad.code, after: good.code, file_name: bad.sample.path, function_name: bad.name, description: describeQuery(query), source_url: bad.sample.path },
        origin,
      );
      if (!result.ok) {
        out.problems.push({ file: origin.file, line: origin.line, kind: result.problem.code, message: `${query.queryId}: ${result.problem.message}: pair skipped` });
        continue;
      }
      if (!isNew(result.record.id, query)) continue;
      out.records.push(result.record);
      remember({ id: result.record.id, kind: 'record', ...from, ...(good.sample.path !== bad.sample.path ? { afterPath: good.sample.path } : {}) });
    }
  }
  return out;
}
