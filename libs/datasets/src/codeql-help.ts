import { constants as fsConstants } from 'node:fs';
import { lstat, open, readdir, realpath, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { SaxesParser } from 'saxes';
import { type CweId, InvalidInputError, type Language, languageFromFileName, normalizeLanguageName, parseCweId } from '@rescue/domain';

/*
 * Reads CodeQL's query help (the `.qhelp` XML beside each `.ql` query) as it ships in a CodeQL
 * checkout: `<lang>/ql/src/**` in github/codeql (`ql/<lang>/ql/src/**` in older forks,
 * `codeql-go/ql/src/**` for Go before it moved in). Only CWE-tagged queries are security
 * knowledge; the rest are skipped without a word.
 */

/** What went wrong with one file; every kind is reported and the reader goes on. */
export type CodeqlProblemKind =
  'malformed-xml' | 'not-qhelp' | 'missing-query' | 'unknown-language' | 'missing-include' | 'include-cycle' | 'missing-sample' | 'outside-root' | 'not-regular-file' | 'too-large' | 'unreadable';

export interface CodeqlProblem {
  /** Path relative to the root (POSIX separators): the file at fault, or the file citing it. */
  file: string;
  /** 1-based line, when the problem has one (an XML error, the element citing a missing file). */
  line?: number;
  kind: CodeqlProblemKind;
  message: string;
}

export interface CodeqlSample {
  /** Relative to the root. An inline sample (code written inside the `.qhelp`) has the help file's path. */
  path: string;
  /** From the file's extension (a JavaScript query's `.ts` sample is TypeScript), or an inline sample's `language`. */
  language?: Language;
  code: string;
  /** Only for an inline sample: the line of its `<sample>` element in the help file. */
  line?: number;
}

/** One CWE-tagged CodeQL query: its metadata (from the `.ql` header), its help prose and its example code. */
export interface CodeqlQueryHelp {
  /** `@id` (`py/tarslip`); without a `.ql`, the help path without its extension. */
  queryId: string;
  /** `@name`; without a `.ql`, the help file's base name. */
  name: string;
  description: string;
  /** In `@tags` order (the first is the query's main weakness), duplicates removed. */
  cwes: CweId[];
  /** The query's language, from its folder (`ql/<lang>/…`, `<lang>/ql/src/…`, `codeql-go` → go). */
  language: Language;
  severity?: number;
  precision?: string;
  overview: string;
  recommendation: string;
  /** The prose of every `<example>` section, samples left out. */
  exampleProse: string;
  /** Each reference as its text (`OWASP: Path Traversal.`), links flattened to their titles. */
  references?: string[];
  /** Cited (and inline) samples in document order, each path once; unreadable ones are reported and left out. */
  samples: CodeqlSample[];
  helpPath: string;
}

/** `.ql` header fields Rescue uses. */
export interface QlMetadata {
  name?: string;
  description?: string;
  id?: string;
  securitySeverity?: number;
  precision?: string;
  tags: string[];
}

/** Example programs are small; a bigger one is not an example (or not a file a help page should cite). */
export const MAX_CODEQL_SAMPLE_BYTES = 256 * 1024;
/** Help and query files are a few KiB; this only stops a hostile tree. */
const MAX_HELP_BYTES = 1024 * 1024;
/** Help files nest a few elements deep; the tree is walked recursively, so a hostile file must not nest deeper. */
const MAX_XML_DEPTH = 100;
/** Fragments include fragments; deeper than this is a cycle we did not see or a hostile tree. */
const MAX_INCLUDE_DEPTH = 16;
/** Folders never holding query help, and big enough to slow the walk down. */
const SKIPPED_DIRECTORIES = new Set(['.git', 'node_modules']);

/** The language folder names of CodeQL checkouts. */
const LANGUAGE_FOLDERS: Record<string, Language> = {
  cpp: 'cpp',
  csharp: 'csharp',
  go: 'go',
  'codeql-go': 'go',
  java: 'java',
  javascript: 'javascript',
  python: 'python',
  ruby: 'ruby',
  swift: 'swift',
  rust: 'rust',
};

/**
 * HTML entities that help files use although XML does not define them (saxes knows only the five
 * XML ones); an undefined entity is an XML error and the help file is reported.
 */
const HTML_ENTITIES: Record<string, string> = {
  nbsp: '\u00a0',
  mdash: '\u2014',
  ndash: '\u2013',
  hellip: '\u2026',
  lsquo: '\u2018',
  rsquo: '\u2019',
  ldquo: '\u201c',
  rdquo: '\u201d',
  copy: '\u00a9',
  reg: '\u00ae',
  trade: '\u2122',
  times: '\u00d7',
  ntilde: '\u00f1',
  eacute: '\u00e9',
  uuml: '\u00fc',
  ouml: '\u00f6',
  auml: '\u00e4',
};

/** Elements whose text is a paragraph of its own; every other element is inline (`<code>`, `<a>`, `<i>`). */
const BLOCK_ELEMENTS = new Set(['p', 'li', 'ul', 'ol', 'dl', 'dt', 'dd', 'blockquote', 'pre', 'section', 'warning', 'table', 'tr', 'div', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'fragment']);

// ---------------------------------------------------------------------------------------------
// A minimal DOM: help files are small, and includes and samples are easier on a tree than on events.

interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlNode[];
  line: number;
  /** The file the element was read from (relative to the root): an include's samples are relative to it. */
  file: string;
}
type XmlNode = XmlElement | string;

class XmlSyntaxError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(message);
  }
}

function parseXml(text: string, file: string): XmlElement {
  const parser = new SaxesParser({ xmlns: false, position: true });
  Object.assign(parser.ENTITIES, HTML_ENTITIES);
  const document: XmlElement = { name: '#document', attrs: {}, children: [], line: 1, file };
  const stack: XmlElement[] = [document];
  let tagLine = 1;
  parser.on('error', (err) => {
    // saxes prefixes its messages with "line:column: ".
    throw new XmlSyntaxError(parser.line, err.message.replace(/^\d+:\d+:\s*/, ''));
  });
  parser.on('opentagstart', () => {
    tagLine = parser.line;
  });
  parser.on('opentag', (tag) => {
    if (stack.length > MAX_XML_DEPTH) throw new XmlSyntaxError(parser.line, `elements nested over ${MAX_XML_DEPTH} deep`);
    const element: XmlElement = { name: tag.name, attrs: { ...(tag.attributes as Record<string, string>) }, children: [], line: tagLine, file };
    stack[stack.length - 1].children.push(element);
    stack.push(element);
  });
  parser.on('closetag', () => {
    stack.pop();
  });
  const onText = (t: string): void => {
    stack[stack.length - 1].children.push(t);
  };
  parser.on('text', onText);
  parser.on('cdata', onText);
  parser.write(text).close();
  const root = document.children.find((c): c is XmlElement => typeof c !== 'string');
  if (!root) throw new XmlSyntaxError(1, 'no root element');
  return root;
}

const elements = (node: XmlElement): XmlElement[] => node.children.filter((c): c is XmlElement => typeof c !== 'string');

// ---------------------------------------------------------------------------------------------
// Files: everything read is checked to be a regular file inside the root, and never opened otherwise.

type ReadOutcome = { ok: true; text: string; path: string } | { ok: false; kind: 'missing' | 'outside-root' | 'not-regular-file' | 'too-large' | 'unreadable'; message: string };

interface ReadContext {
  root: string;
  realRoot: string;
  report: (p: CodeqlProblem) => void;
}

const toPosix = (p: string): string => (sep === '/' ? p : p.split(sep).join('/'));
const relativeTo = (ctx: ReadContext, abs: string): string => toPosix(relative(ctx.root, abs));

function isInside(parent: string, child: string): boolean {
  const rel = relative(parent, child);
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
}

const errnoCode = (err: unknown): string | undefined => (err as NodeJS.ErrnoException | undefined)?.code;

/**
 * Reads a file only when it is a regular file inside the root and at most `maxBytes` long. Symbolic
 * links are resolved first and refused when they lead out of the root; the type is checked with
 * lstat before opening, and again on the open descriptor (O_NONBLOCK, so that a FIFO swapped in
 * between cannot block us).
 */
async function readInside(ctx: ReadContext, abs: string, maxBytes: number): Promise<ReadOutcome> {
  const shown = relativeTo(ctx, abs);
  if (!isInside(ctx.root, abs)) return { ok: false, kind: 'outside-root', message: `${shown} is outside the folder being read` };
  let real: string;
  try {
    real = await realpath(abs);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return { ok: false, kind: 'missing', message: `${shown} does not exist` };
    return { ok: false, kind: 'unreadable', message: `${shown}: ${(err as Error).message}` };
  }
  if (!isInside(ctx.realRoot, real)) return { ok: false, kind: 'outside-root', message: `${shown} is a link leading outside the folder being read` };
  try {
    return await readRegularFile(real, shown, maxBytes);
  } catch (err) {
    return { ok: false, kind: 'unreadable', message: `${shown}: ${(err as Error).message}` };
  }
}

async function readRegularFile(real: string, shown: string, maxBytes: number): Promise<ReadOutcome> {
  const info = await lstat(real);
  if (!info.isFile()) return { ok: false, kind: 'not-regular-file', message: `${shown} is not a regular file (${fileType(info)}), never opened` };
  const tooLarge = (size: number): ReadOutcome => ({ ok: false, kind: 'too-large', message: `${shown} is ${size} bytes, over the limit of ${maxBytes}` });
  if (info.size > maxBytes) return tooLarge(info.size);
  const handle = await open(real, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
  try {
    const opened = await handle.stat();
    if (!opened.isFile()) return { ok: false, kind: 'not-regular-file', message: `${shown} is not a regular file` };
    const bytes = await handle.readFile();
    // The file may have grown since it was measured.
    if (bytes.length > maxBytes) return tooLarge(bytes.length);
    return { ok: true, text: bytes.toString('utf8').replace(/^\uFEFF/, ''), path: shown };
  } finally {
    await handle.close();
  }
}

function fileType(info: { isFIFO(): boolean; isSocket(): boolean; isDirectory(): boolean; isSymbolicLink(): boolean }): string {
  if (info.isFIFO()) return 'a FIFO';
  if (info.isSocket()) return 'a socket';
  if (info.isDirectory()) return 'a directory';
  if (info.isSymbolicLink()) return 'a symbolic link';
  return 'a device';
}

/** Every `.qhelp` under the root that is not an include fragment, sorted; special files are reported, links to folders not followed. */
async function findHelpFiles(ctx: ReadContext): Promise<string[]> {
  const found: string[] = [];
  const visit = async (dir: string): Promise<void> => {
    // Sorted, so that problems are reported in the same order everywhere.
    const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => compareStrings(a.name, b.name));
    for (const entry of entries) {
      const abs = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (!SKIPPED_DIRECTORIES.has(entry.name)) await visit(abs);
      } else if (entry.isFile() || entry.isSymbolicLink()) {
        // A linked help file is read through readInside, which refuses links leading out of the root.
        if (entry.name.endsWith('.qhelp') && !entry.name.endsWith('.inc.qhelp')) found.push(abs);
      } else {
        ctx.report({ file: relativeTo(ctx, abs), kind: 'not-regular-file', message: `${fileType(entry)} in the CodeQL folder: skipped, never opened` });
      }
    }
  };
  await visit(ctx.root);
  // Sorted as relative POSIX paths, so the order is the same on every platform.
  return found.sort((a, b) => compareStrings(relativeTo(ctx, a), relativeTo(ctx, b)));
}

const compareStrings = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

// ---------------------------------------------------------------------------------------------
// The query file's header.

/**
 * The QLDoc header of a `.ql` file (`@name`, `@description`, `@id`, `@security-severity`,
 * `@precision`, `@tags`), continuation lines joined. Fields it lacks are undefined.
 */
export function parseQlMetadata(text: string): QlMetadata {
  const header = /^\s*\/\*\*([\s\S]*?)\*\//.exec(text)?.[1] ?? '';
  const fields = new Map<string, string>();
  let current: string | undefined;
  for (const raw of header.split('\n')) {
    const line = raw.replace(/^\s*\*?\s?/, '').trim();
    const tag = /^@([\w.-]+)\s*(.*)$/.exec(line);
    if (tag) {
      current = tag[1];
      fields.set(current, tag[2]);
    } else if (current && line) {
      fields.set(current, `${fields.get(current) ?? ''} ${line}`);
    }
  }
  const text_ = (key: string): string | undefined => {
    const v = fields.get(key)?.replace(/\s+/g, ' ').trim();
    return v ? v : undefined;
  };
  const severity = Number.parseFloat(text_('security-severity') ?? '');
  return {
    name: text_('name'),
    description: text_('description'),
    id: text_('id'),
    securitySeverity: Number.isFinite(severity) ? severity : undefined,
    precision: text_('precision'),
    tags: (text_('tags') ?? '').split(/\s+/).filter((t) => t !== ''),
  };
}

/** CWE ids of `external/cwe/cwe-089`-style tags, in order, each once. */
export function cwesFromTags(tags: readonly string[]): CweId[] {
  const ids = tags.map((t) => /^external\/cwe\/(cwe-\d+)$/i.exec(t)?.[1]).map((t) => (t ? parseCweId(t) : undefined));
  return [...new Set(ids.filter((x): x is CweId => x !== undefined))];
}

/** The query language of a help file from its folders: the folder before `ql/src`, else the nearest language folder. */
export function codeqlLanguageFromPath(path: string): Language | undefined {
  const parts = path.split(/[\\/]/);
  // Folder names are the user's: a folder named `constructor` or `toString` is not a language.
  const folder = (name: string): Language | undefined => (Object.hasOwn(LANGUAGE_FOLDERS, name) ? LANGUAGE_FOLDERS[name] : undefined);
  for (let i = parts.length - 3; i >= 0; i -= 1) {
    if (parts[i + 1] === 'ql' && parts[i + 2] === 'src' && folder(parts[i])) return folder(parts[i]);
  }
  for (let i = parts.length - 2; i >= 0; i -= 1) if (folder(parts[i])) return folder(parts[i]);
  return undefined;
}

/** The CWE a folder is named after (`CWE-079`, `cwe-1333`), the nearest one, for help files without a query. */
function cweFromFolders(path: string): CweId | undefined {
  const parts = path.split(/[\\/]/).slice(0, -1).reverse();
  for (const part of parts) {
    const id = /^cwe[-_]?\d+$/i.test(part) ? parseCweId(part) : undefined;
    if (id) return id;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Help documents: includes spliced in, sections flattened to text.

/** The help document with every `<include>` replaced by the included file's content. */
async function expandIncludes(ctx: ReadContext, element: XmlElement, chain: string[]): Promise<XmlElement> {
  const children: XmlNode[] = [];
  for (const child of element.children) {
    if (typeof child === 'string') children.push(child);
    else if (child.name === 'include') children.push(...(await includedNodes(ctx, child, chain)));
    else children.push(await expandIncludes(ctx, child, chain));
  }
  return { ...element, children };
}

/** The nodes an `<include src>` stands for: the included document's sections, or its `<fragment>`'s content. */
async function includedNodes(ctx: ReadContext, include: XmlElement, chain: string[]): Promise<XmlNode[]> {
  const src = include.attrs.src;
  const at = { file: include.file, line: include.line };
  if (!src) {
    ctx.report({ ...at, kind: 'missing-include', message: '<include> without a src attribute: ignored' });
    return [];
  }
  const abs = resolve(ctx.root, dirname(include.file), src);
  const key = relativeTo(ctx, abs);
  if (chain.includes(key) || chain.length > MAX_INCLUDE_DEPTH) {
    ctx.report({ ...at, kind: 'include-cycle', message: `including ${src} would loop (${[...chain, key].join(' → ')}): ignored` });
    return [];
  }
  const read = await readInside(ctx, abs, MAX_HELP_BYTES);
  if (!read.ok) {
    ctx.report({ ...at, kind: read.kind === 'missing' ? 'missing-include' : read.kind, message: `included file ${src}: ${read.message}: ignored` });
    return [];
  }
  let root: XmlElement;
  try {
    root = parseXml(read.text, read.path);
  } catch (err) {
    if (!(err instanceof XmlSyntaxError)) throw err;
    ctx.report({ file: read.path, line: err.line, kind: 'malformed-xml', message: `${err.message} (included by ${include.file}; the include was ignored)` });
    return [];
  }
  const expanded = await expandIncludes(ctx, root, [...chain, key]);
  // A fragment file wraps its paragraphs in <fragment>; a whole help file brings its sections.
  return expanded.children.flatMap((c) => (typeof c !== 'string' && c.name === 'fragment' ? c.children : [c]));
}

/** Text of XHTML-like help content: inline markup dropped, whitespace collapsed, one paragraph a line. */
function flatten(nodes: readonly XmlNode[]): string {
  const paragraphs: string[] = [];
  let inline = '';
  const flush = (): void => {
    const text = inline.replace(/\s+/g, ' ').trim();
    if (text) paragraphs.push(text);
    inline = '';
  };
  const walk = (node: XmlNode): void => {
    if (typeof node === 'string') {
      inline += node;
      return;
    }
    if (node.name === 'sample' || node.name === 'include') return;
    if (node.name === 'pre') {
      flush();
      const text = textOf(node).replace(/^\n+|\s+$/g, '');
      if (text) paragraphs.push(text);
      return;
    }
    if (node.name === 'br') inline += ' ';
    const block = BLOCK_ELEMENTS.has(node.name);
    if (block) flush();
    node.children.forEach(walk);
    if (block) flush();
  };
  nodes.forEach(walk);
  flush();
  return paragraphs.join('\n');
}

const textOf = (node: XmlNode): string => (typeof node === 'string' ? node : node.children.map(textOf).join(''));

function sectionText(root: XmlElement, name: string): string {
  return elements(root)
    .filter((e) => e.name === name)
    .map((e) => flatten(e.children))
    .filter((t) => t !== '')
    .join('\n');
}

function references(root: XmlElement): string[] | undefined {
  const items: string[] = [];
  const collect = (e: XmlElement): void => {
    for (const c of elements(e)) {
      if (c.name === 'li') items.push(flatten(c.children).replace(/\n/g, ' '));
      else collect(c);
    }
  };
  for (const section of elements(root).filter((e) => e.name === 'references')) collect(section);
  const titles = items.filter((t) => t !== '');
  return titles.length > 0 ? titles : undefined;
}

/** Inline code is indented like the XML around it; that indentation is not the code's. */
function dedent(code: string): string {
  const lines = code.split('\n');
  const indents = lines.filter((l) => l.trim() !== '').map((l) => /^[ \t]*/.exec(l)?.[0] ?? '');
  let common = indents[0] ?? '';
  for (const indent of indents) while (!indent.startsWith(common)) common = common.slice(0, -1);
  return lines.map((l) => l.slice(Math.min(common.length, /^[ \t]*/.exec(l)?.[0].length ?? 0))).join('\n');
}

function sampleElements(node: XmlElement): XmlElement[] {
  return elements(node).flatMap((c) => (c.name === 'sample' ? [c] : sampleElements(c)));
}

/** The samples of a help document in order, each file once; a sample that cannot be read is reported and left out. */
async function readSamples(ctx: ReadContext, root: XmlElement, helpPath: string): Promise<CodeqlSample[]> {
  const samples: CodeqlSample[] = [];
  const seen = new Set<string>();
  for (const el of sampleElements(root)) {
    const src = el.attrs.src;
    if (!src) {
      const code = dedent(textOf(el).replace(/^(?:[ \t]*\n)+|\s+$/g, ''));
      const language = el.attrs.language ? normalizeLanguageName(el.attrs.language) : undefined;
      if (code) samples.push({ path: el.file, language, code, line: el.line });
      continue;
    }
    const abs = resolve(ctx.root, dirname(el.file), src);
    const read = await readInside(ctx, abs, MAX_CODEQL_SAMPLE_BYTES);
    if (!read.ok) {
      // A fragment is reported once per help file including it: say which one.
      const via = el.file === helpPath ? '' : ` (while reading ${helpPath}, which includes this file)`;
      ctx.report({ file: el.file, line: el.line, kind: read.kind === 'missing' ? 'missing-sample' : read.kind, message: `sample ${src}: ${read.message}: skipped${via}` });
      continue;
    }
    if (seen.has(read.path)) continue;
    seen.add(read.path);
    samples.push({ path: read.path, language: languageFromFileName(read.path), code: read.text.replace(/\r\n?/g, '\n') });
  }
  return samples;
}

// ---------------------------------------------------------------------------------------------

interface QueryMeta {
  queryId: string;
  name: string;
  description: string;
  cwes: CweId[];
  severity?: number;
  precision?: string;
}

/**
 * The metadata of the query a help file documents: from the `.ql` beside it, or, without one,
 * from the folder's CWE (reported). Undefined when the query is not CWE-tagged security knowledge.
 */
async function queryMeta(ctx: ReadContext, helpAbs: string, helpPath: string): Promise<QueryMeta | undefined> {
  const stem = basename(helpPath, '.qhelp');
  const qlAbs = join(dirname(helpAbs), `${stem}.ql`);
  const ql = await readInside(ctx, qlAbs, MAX_HELP_BYTES);
  if (ql.ok) {
    const meta = parseQlMetadata(ql.text);
    const cwes = cwesFromTags(meta.tags);
    if (cwes.length === 0) return undefined;
    return { queryId: meta.id ?? helpPath.replace(/\.qhelp$/, ''), name: meta.name ?? stem, description: meta.description ?? '', cwes, severity: meta.securitySeverity, precision: meta.precision };
  }
  const folderCwe = cweFromFolders(helpPath);
  const outcome = folderCwe ? `kept under ${folderCwe}, the CWE of its folder` : 'skipped: no CWE in its folder names either';
  const why = ql.kind === 'missing' ? `has no query file ${stem}.ql beside it` : `its query file cannot be read (${ql.message})`;
  ctx.report({ file: helpPath, kind: ql.kind === 'missing' ? 'missing-query' : ql.kind, message: `${why}: ${outcome}` });
  return folderCwe ? { queryId: helpPath.replace(/\.qhelp$/, ''), name: stem, description: '', cwes: [folderCwe] } : undefined;
}

async function readQueryHelp(ctx: ReadContext, helpAbs: string): Promise<CodeqlQueryHelp | undefined> {
  const helpPath = relativeTo(ctx, helpAbs);
  const meta = await queryMeta(ctx, helpAbs, helpPath);
  if (!meta) return undefined;
  const language = codeqlLanguageFromPath(helpAbs);
  if (!language) {
    ctx.report({ file: helpPath, kind: 'unknown-language', message: `no language folder (${Object.keys(LANGUAGE_FOLDERS).join(', ')}) above this help file: skipped` });
    return undefined;
  }
  const read = await readInside(ctx, helpAbs, MAX_HELP_BYTES);
  if (!read.ok) {
    ctx.report({ file: helpPath, kind: read.kind === 'missing' ? 'unreadable' : read.kind, message: `${read.message}: skipped` });
    return undefined;
  }
  let parsed: XmlElement;
  try {
    parsed = parseXml(read.text, helpPath);
  } catch (err) {
    if (!(err instanceof XmlSyntaxError)) throw err;
    ctx.report({ file: helpPath, line: err.line, kind: 'malformed-xml', message: `${err.message}: the query was skipped` });
    return undefined;
  }
  if (parsed.name !== 'qhelp') {
    ctx.report({ file: helpPath, line: parsed.line, kind: 'not-qhelp', message: `the root element is <${parsed.name}>, not <qhelp>: skipped` });
    return undefined;
  }
  const root = await expandIncludes(ctx, parsed, [helpPath]);
  return {
    ...meta,
    language,
    overview: sectionText(root, 'overview'),
    recommendation: sectionText(root, 'recommendation'),
    exampleProse: sectionText(root, 'example'),
    references: references(root),
    samples: await readSamples(ctx, root, helpPath),
    helpPath,
  };
}

/**
 * Reads the CWE-tagged query help under `root` (a CodeQL checkout, or any folder of it): every
 * `.qhelp` that is not an `.inc.qhelp` fragment, with the `.ql` of the same base name beside it and
 * the samples it cites (relative to the file citing them), in sorted path order. Returns the whole
 * list (a CodeQL checkout has under a thousand security queries).
 *
 * Queries without CWE tags are skipped silently. Everything else that is wrong is reported through
 * `onProblem` and the reading goes on: a malformed help file skips its query; a missing or
 * unreadable sample or include skips that sample or include; a help file without a query is kept
 * under its folder's CWE when the folder names one. Nothing outside the root is read (paths with
 * `..`, links leading out), no special file (FIFO, socket, device) is opened, and samples over
 * {@link MAX_CODEQL_SAMPLE_BYTES} are skipped.
 *
 * @throws InvalidInputError when `root` is not a readable folder.
 */
export async function readCodeqlHelp(root: string, onProblem?: (p: CodeqlProblem) => void): Promise<CodeqlQueryHelp[]> {
  const absRoot = resolve(root);
  const info = await stat(absRoot).catch((err: unknown) => {
    throw new InvalidInputError(`cannot read the CodeQL folder ${root}: ${(err as Error).message}`, { cause: err });
  });
  if (!info.isDirectory()) throw new InvalidInputError(`${root} is not a folder: point at a CodeQL checkout or a folder inside it`);
  const ctx: ReadContext = { root: absRoot, realRoot: await realpath(absRoot), report: onProblem ?? (() => undefined) };
  const queries: CodeqlQueryHelp[] = [];
  for (const helpAbs of await findHelpFiles(ctx)) {
    const query = await readQueryHelp(ctx, helpAbs);
    if (query) queries.push(query);
  }
  return queries;
}
