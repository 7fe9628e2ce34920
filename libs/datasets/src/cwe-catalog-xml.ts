import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { SaxesParser, type SaxesTagNS } from 'saxes';
import * as yauzl from 'yauzl';
import { type CweId, InvalidInputError, parseCweId } from '@rescue/domain';
import { type CatalogProblem, type CweCodeBlock, type CweDemonstrativeExample, type CweEntry, type CweMitigation, chooseParents } from './cwe-entry';
import { firstInvalidUtf8Offset } from './line-reader';

// Reads MITRE's XML CWE catalogue (cwec_vX.Y.xml, or the cwec_vX.Y.xml.zip MITRE distributes) as a
// stream: the file or zip entry goes through a SAX parser chunk by chunk, and only the weakness
// being read is held as a small element tree, turned into a CweEntry when it closes.
//
// Entities: saxes knows only XML's five predefined entities and character references. A DOCTYPE,
// internal subset included, is captured as text and handed to its `doctype` event; its <!ENTITY>
// declarations are never defined, so a reference to one is an "undefined entity" error (which stops
// the read like any other well-formedness error) rather than an expansion. Nothing is fetched
// either: no external entity, DTD or schema is ever opened. The text saxes buffers for a DOCTYPE,
// comment or text node can only be as large as the input, which is a regular file (checked before
// opening) or a zip entry read up to `maxUncompressedBytes`.

/** Default cap on the uncompressed bytes read from a zipped catalogue: 17 times MITRE's 15 MB XML. */
export const DEFAULT_MAX_ZIP_BYTES = 256 * 1024 * 1024;

export interface CweXmlReadOptions {
  /**
   * For a `.zip`: stop after this many uncompressed bytes of the XML entry (a zip bomb guard),
   * report it, and keep the weaknesses read until then. Default {@link DEFAULT_MAX_ZIP_BYTES}.
   */
  maxUncompressedBytes?: number;
}

/** Spaces per level of `margin-left` indentation in a code block (the usual for C, Java, PHP, Python). */
export const CODE_INDENT = 4;

/** A weakness nested deeper than this, or holding more text than this, is skipped and reported. */
const MAX_WEAKNESS_DEPTH = 200;
const MAX_WEAKNESS_CHARS = 8 * 1024 * 1024;
/** Skipped zip entries reported one by one before the rest are summed up in one line. */
const MAX_SKIPPED_ENTRIES_NAMED = 20;

const XHTML_BLOCKS = new Set(['div', 'p', 'li', 'ul', 'ol', 'dl', 'dt', 'dd', 'table', 'thead', 'tbody', 'tfoot', 'tr', 'pre', 'blockquote', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6']);
const XHTML_CELLS = new Set(['td', 'th']);

/**
 * Reads MITRE's XML CWE catalogue, a `.xml` file or a `.zip` holding one, into entries keyed by id.
 *
 * Only `<Weakness>` elements of `<Weaknesses>` are read (categories, views and references are not);
 * deprecated weaknesses are left out. A weakness without a usable ID or Name is reported with its
 * line and skipped. A zip's first `.xml` entry is read; its other entries are reported as skipped.
 *
 * When the read stops early (the XML is not well-formed, is not UTF-8, is cut off, or the zip cap is
 * reached) the problem is reported with its line and column and every weakness completed before it
 * is returned; if none was, the function throws {@link InvalidInputError} instead, since an empty
 * catalogue would look like a successful read. It also throws for a path that is not a regular
 * file, a zip it cannot open or without an `.xml` entry, and an XML document that is not a
 * `Weakness_Catalog`.
 */
export async function readCweCatalogXml(path: string, onProblem?: (p: CatalogProblem) => void, options: CweXmlReadOptions = {}): Promise<Map<CweId, CweEntry>> {
  const maxBytes = options.maxUncompressedBytes ?? DEFAULT_MAX_ZIP_BYTES;
  if (!Number.isSafeInteger(maxBytes) || maxBytes <= 0) throw new InvalidInputError(`maxUncompressedBytes must be a positive integer, not ${maxBytes}`);
  await requireRegularFile(path);
  const report = onProblem ?? (() => undefined);
  return /\.zip$/i.test(path) ? readZippedCatalogue(path, report, maxBytes) : readPlainCatalogue(path, report);
}

/** Refuses, before anything opens it, a path that would block (a FIFO) or is not a file at all. */
async function requireRegularFile(path: string): Promise<void> {
  const info = await stat(path);
  if (info.isFile()) return;
  const kind = info.isDirectory() ? 'a directory' : info.isFIFO() ? 'a named pipe' : info.isSocket() ? 'a socket' : 'a device or other special file';
  throw new InvalidInputError(`${path} is ${kind}, not a regular file: give the path of MITRE's cwec_vX.Y.xml or cwec_vX.Y.xml.zip`);
}

async function readPlainCatalogue(path: string, report: (p: CatalogProblem) => void): Promise<Map<CweId, CweEntry>> {
  const collector = new CatalogueCollector(report);
  await feed(createReadStream(path), collector);
  return settle(collector, path, report);
}

async function readZippedCatalogue(path: string, report: (p: CatalogProblem) => void, maxBytes: number): Promise<Map<CweId, CweEntry>> {
  let zip: yauzl.ZipFile;
  try {
    // validateEntrySizes (the default, stated here because it matters) makes yauzl fail a stream
    // that inflates to more bytes than the entry declares, so a lying header cannot feed us more.
    zip = await yauzl.openPromise(path, { autoClose: false, lazyEntries: true, validateEntrySizes: true, decodeStrings: true });
  } catch (err) {
    throw new InvalidInputError(`${path} is not a zip archive yauzl can read (${messageOf(err)}): expected MITRE's cwec_vX.Y.xml.zip`, { cause: err });
  }
  try {
    const entry = await chooseXmlEntry(zip, path, report);
    let stream: Readable;
    try {
      stream = await zip.openReadStreamPromise(entry);
    } catch (err) {
      throw new InvalidInputError(`${path}: cannot read entry ${entry.fileName} (${messageOf(err)})`, { cause: err });
    }
    const entryReport = (p: CatalogProblem) => report({ ...p, entry: entry.fileName });
    const collector = new CatalogueCollector(entryReport);
    const outcome = await feed(stream, collector, maxBytes);
    if (outcome === 'capped') {
      collector.halt(
        `stopped reading ${entry.fileName} at the ${maxBytes}-byte cap on uncompressed data (maxUncompressedBytes; the entry declares ${entry.uncompressedSize} bytes): possibly a zip bomb`,
        'zip',
      );
    }
    return settle(collector, `${path} (${entry.fileName})`, entryReport);
  } finally {
    zip.close();
  }
}

/** Central-directory names that are not catalogue content even when they end in `.xml`. */
function isMetadataEntry(name: string): boolean {
  return name.startsWith('__MACOSX/') || /(^|\/)\._[^/]*$/.test(name);
}

/**
 * The zip's first `.xml` entry, in central-directory order. MITRE ships exactly one; reading only the
 * first keeps a zip with several from merging catalogues of different versions. Every other file
 * entry is reported as skipped (directories hold nothing and are passed over).
 */
async function chooseXmlEntry(zip: yauzl.ZipFile, path: string, report: (p: CatalogProblem) => void): Promise<yauzl.Entry> {
  let chosen: yauzl.Entry | undefined;
  const skipped: string[] = [];
  let skippedCount = 0;
  try {
    for await (const entry of zip.eachEntry()) {
      if (entry.fileName.endsWith('/')) continue;
      if (!chosen && /\.xml$/i.test(entry.fileName) && !isMetadataEntry(entry.fileName)) {
        chosen = entry;
        continue;
      }
      skippedCount += 1;
      if (skipped.length < MAX_SKIPPED_ENTRIES_NAMED) skipped.push(entry.fileName);
    }
  } catch (err) {
    throw new InvalidInputError(`${path}: cannot list the zip's entries (${messageOf(err)})`, { cause: err });
  }
  if (!chosen) throw new InvalidInputError(`${path} holds no .xml entry: expected MITRE's catalogue (cwec_vX.Y.xml) inside the zip`);
  const why = `only the first .xml entry (${chosen.fileName}) is read`;
  for (const name of skipped) report({ line: 0, field: 'zip', entry: name, message: `skipped zip entry ${name}: ${why}` });
  if (skippedCount > skipped.length) report({ line: 0, field: 'zip', message: `skipped ${skippedCount - skipped.length} more zip entries: ${why}` });
  return chosen;
}

type FeedOutcome = 'end' | 'halted' | 'capped';

/**
 * Feeds a byte stream to the collector as UTF-8, chunk by chunk, until the stream ends, the collector
 * halts, or `maxBytes` have gone in; an early stop destroys the stream, which for a zip entry also
 * stops the inflater. A read error (a truncated zip, bad deflate data, an entry longer than it
 * declares) halts the collector instead of losing what it has; only errors of the stream are
 * caught here, so a bug in the collector still surfaces as itself.
 */
async function feed(source: Readable, collector: CatalogueCollector, maxBytes = Number.POSITIVE_INFINITY): Promise<FeedOutcome> {
  const decoder = new Utf8Chunks();
  const chunks = (source as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  let bytes = 0;
  try {
    for (;;) {
      let next: IteratorResult<Buffer>;
      try {
        next = await chunks.next();
      } catch (err) {
        collector.halt(`reading stopped after ${bytes} bytes: ${messageOf(err)}`, 'file');
        return 'halted';
      }
      if (next.done) break;
      const room = maxBytes - bytes;
      const part = next.value.length > room ? next.value.subarray(0, room) : next.value;
      if (!decodeInto(decoder, part, collector) || collector.halted) return 'halted';
      bytes += part.length;
      if (part.length < next.value.length) return 'capped';
    }
  } finally {
    if (!source.readableEnded) source.destroy();
  }
  if (!decodeInto(decoder, undefined, collector)) return 'halted';
  collector.end();
  return collector.halted ? 'halted' : 'end';
}

/** Decodes one chunk (or, without one, checks the input's end) into the collector; false when it is not UTF-8. */
function decodeInto(decoder: Utf8Chunks, chunk: Buffer | undefined, collector: CatalogueCollector): boolean {
  const { text, invalidAt } = chunk ? decoder.decode(chunk) : decoder.end();
  // The valid text before a bad byte still goes in, so the weaknesses it completes are kept.
  collector.write(text);
  if (invalidAt === undefined) return true;
  collector.halt(`the input is not valid UTF-8 at byte offset ${invalidAt}`, 'file');
  return false;
}

/**
 * Strict, incremental UTF-8 decoding that says where the input stops being UTF-8 (a replacing
 * decoder would turn bad bytes into U+FFFD without a word). A character cut by a chunk boundary
 * waits for the next chunk.
 */
class Utf8Chunks {
  private carry: Buffer = Buffer.alloc(0);
  private offset = 0;

  decode(chunk: Buffer): { text: string; invalidAt?: number } {
    const buf = this.carry.length > 0 ? Buffer.concat([this.carry, chunk]) : chunk;
    const start = this.offset - this.carry.length;
    this.offset += chunk.length;
    const bad = firstInvalidUtf8Offset(buf);
    if (bad < 0) {
      this.carry = Buffer.alloc(0);
      return { text: buf.toString('utf8') };
    }
    const text = buf.toString('utf8', 0, bad);
    if (!isCutCharacter(buf, bad)) return { text, invalidAt: start + bad };
    this.carry = Buffer.from(buf.subarray(bad));
    return { text };
  }

  end(): { text: string; invalidAt?: number } {
    return this.carry.length > 0 ? { text: '', invalidAt: this.offset - this.carry.length } : { text: '' };
  }
}

/** Whether the bytes from `at` to the end are the start of a character the next chunk may finish. */
function isCutCharacter(buf: Buffer, at: number): boolean {
  const lead = buf[at];
  const need = lead >= 0xc2 && lead <= 0xdf ? 1 : lead >= 0xe0 && lead <= 0xef ? 2 : lead >= 0xf0 && lead <= 0xf4 ? 3 : 0;
  if (need === 0 || at + need < buf.length) return false;
  for (let i = at + 1; i < buf.length; i += 1) if ((buf[i] & 0xc0) !== 0x80) return false;
  return true;
}

/** The entries read, with an early stop reported, or thrown when nothing was read before it. */
function settle(collector: CatalogueCollector, place: string, report: (p: CatalogProblem) => void): Map<CweId, CweEntry> {
  const halt = collector.halted;
  if (collector.notACatalogue) throw new InvalidInputError(`${place}: ${collector.notACatalogue}`);
  collector.resolveViews();
  if (!halt) return collector.entries;
  if (collector.entries.size === 0) throw new InvalidInputError(`${place}:${halt.message} (no weakness was complete before that)`);
  report(halt);
  return collector.entries;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

// ---------------------------------------------------------------------------------------------
// SAX events to weaknesses

/** An element of the weakness being read: local name (namespace prefix dropped), attributes, children. */
interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlNode[];
  line: number;
}
type XmlNode = XmlElement | string;

/** The `<Weakness>` being read. `drop` says why it will be left out; its subtree is then only counted. */
interface OpenWeakness {
  root: XmlElement;
  stack: XmlElement[];
  depth: number;
  chars: number;
  drop?: 'deprecated' | 'too-deep' | 'too-large';
}

const WEAKNESS_PATH = ['Weakness_Catalog', 'Weaknesses', 'Weakness'];
const CATEGORY_PATH = ['Weakness_Catalog', 'Categories', 'Category'];
const VIEW_PATH = ['Weakness_Catalog', 'Views', 'View'];
const isPath = (path: string[], want: string[]): boolean => path.length === want.length && path.every((name, i) => name === want[i]);

/**
 * Receives the XML text in chunks and collects the weaknesses it completes. The first fatal problem
 * (an XML error, or a stop asked for by the feeder) halts it: later events are ignored and the
 * weakness being read then is dropped, because its end was never seen.
 */
class CatalogueCollector {
  readonly entries = new Map<CweId, CweEntry>();
  halted?: CatalogProblem;
  notACatalogue?: string;
  private readonly parser: SaxesParser<{ xmlns: true }>;
  /** Local names of the open elements outside any weakness. */
  private readonly path: string[] = [];
  private weakness?: OpenWeakness;
  private tagLine = 1;
  /** Members of categories and views, by their id (only ids: a few thousand short strings). */
  private readonly categoryMembers = new Map<string, string[]>();
  private readonly viewMembers = new Map<string, string[]>();
  private readonly viewNames = new Map<string, string>();
  private group?: { members: string[] };
  /** Views named by each weakness's relations (`Related_Weakness View_ID`). */
  readonly relationViews = new Map<string, string[]>();

  constructor(private readonly report: (p: CatalogProblem) => void) {
    this.parser = new SaxesParser({ xmlns: true });
    this.parser.on('opentagstart', () => {
      this.tagLine = this.parser.line;
    });
    this.parser.on('opentag', (tag) => this.open(tag));
    this.parser.on('closetag', () => this.close());
    this.parser.on('text', (text) => this.text(text));
    this.parser.on('cdata', (text) => this.text(text));
    // saxes puts "line:column: " before its message; halt() states the position itself.
    this.parser.on('error', (err) => this.halt(err.message.replace(/^\d+:\d+: /, ''), 'xml'));
  }

  /**
   * Tells each entry which views list it, directly or through a member category (one level, as the
   * catalogue's views use them); called once the whole document has been read.
   */
  resolveViews(): void {
    const byWeakness = new Map<string, Set<string>>();
    for (const [view, members] of this.viewMembers) {
      for (const member of members) {
        for (const id of [member, ...(this.categoryMembers.get(member) ?? [])]) {
          let set = byWeakness.get(id);
          if (!set) byWeakness.set(id, (set = new Set()));
          set.add(view);
        }
      }
    }
    for (const entry of this.entries.values()) {
      // Graph views (1000, 1003, 699) list their weaknesses through the weaknesses' own relations.
      const views = new Set([...(byWeakness.get(entry.id.replace(/^CWE-/, '')) ?? []), ...(this.relationViews.get(entry.id) ?? [])]);
      if (views.size > 0) entry.views = [...views].sort((a, b) => Number(a) - Number(b) || (a < b ? -1 : 1)).map((id) => ({ id, name: this.viewNames.get(id) ?? '' }));
    }
  }

  write(text: string): void {
    if (!this.halted && text.length > 0) this.parser.write(text);
  }

  /** The input is complete: saxes reports unclosed elements (a cut-off file) as an error here. */
  end(): void {
    if (!this.halted) this.parser.close();
  }

  /**
   * Stops collecting at the parser's current position, with `message` as the reason. The problem's
   * message starts with `line:column` too, for readers that print only the line.
   */
  halt(message: string, field: string): void {
    if (this.halted) return;
    const line = this.parser.line;
    // saxes's column counts from 0 and points past the character it just read, which makes it the
    // 1-based column of that character.
    const column = Math.max(1, this.parser.column);
    const w = this.weakness;
    const lost = w && !w.drop ? `the weakness open there (ID ${w.root.attrs.ID ?? '?'}, from line ${w.root.line}) and the rest of the input were not read` : 'the rest of the input was not read';
    this.halted = { line, column, field, message: `${line}:${column}: ${message.replace(/\.$/, '')}; ${lost}` };
    this.weakness = undefined;
  }

  private open(tag: SaxesTagNS): void {
    if (this.halted) return;
    if (this.weakness) return this.openInWeakness(tag);
    this.path.push(tag.local);
    if (this.path.length === 1 && tag.local !== 'Weakness_Catalog') {
      this.notACatalogue = `the root element is <${tag.name}>, not <Weakness_Catalog>: this is not MITRE's XML CWE catalogue`;
      this.halt(this.notACatalogue, 'xml');
      return;
    }
    if (isPath(this.path, CATEGORY_PATH) || isPath(this.path, VIEW_PATH)) {
      const members: string[] = [];
      const id = tag.attributes.ID?.value ?? '';
      if (isPath(this.path, VIEW_PATH)) this.viewNames.set(id, (tag.attributes.Name?.value ?? '').trim());
      (isPath(this.path, VIEW_PATH) ? this.viewMembers : this.categoryMembers).set(id, members);
      this.group = { members };
      return;
    }
    if (this.group && tag.local === 'Has_Member' && tag.attributes.CWE_ID) this.group.members.push(tag.attributes.CWE_ID.value);
    if (isPath(this.path, WEAKNESS_PATH)) {
      const root = this.element(tag);
      this.weakness = { root, stack: [root], depth: 1, chars: 0, drop: root.attrs.Status === 'Deprecated' ? 'deprecated' : undefined };
    }
  }

  private openInWeakness(tag: SaxesTagNS): void {
    const w = this.weakness as OpenWeakness;
    w.depth += 1;
    if (w.drop) return;
    if (w.depth > MAX_WEAKNESS_DEPTH) return this.dropWeakness(w, 'too-deep', `elements nest more than ${MAX_WEAKNESS_DEPTH} deep`);
    const el = this.element(tag);
    w.stack[w.stack.length - 1].children.push(el);
    w.stack.push(el);
  }

  private close(): void {
    if (this.halted) return;
    const w = this.weakness;
    if (!w) {
      if (isPath(this.path, CATEGORY_PATH) || isPath(this.path, VIEW_PATH)) this.group = undefined;
      this.path.pop();
      return;
    }
    w.depth -= 1;
    if (!w.drop) w.stack.pop();
    if (w.depth > 0) return;
    this.weakness = undefined;
    this.path.pop();
    if (!w.drop) this.keep(w.root);
  }

  private text(text: string): void {
    const w = this.weakness;
    if (this.halted || !w || w.drop) return;
    w.chars += text.length;
    if (w.chars > MAX_WEAKNESS_CHARS) return this.dropWeakness(w, 'too-large', `it holds more than ${MAX_WEAKNESS_CHARS} characters of text`);
    const children = w.stack[w.stack.length - 1].children;
    const last = children.length - 1;
    // saxes may split one text node across chunks; keep it one string.
    if (last >= 0 && typeof children[last] === 'string') children[last] += text;
    else children.push(text);
  }

  private dropWeakness(w: OpenWeakness, why: 'too-deep' | 'too-large', message: string): void {
    w.drop = why;
    w.stack = [];
    this.report({ line: w.root.line, field: 'Weakness', message: `skipped the weakness with ID ${w.root.attrs.ID ?? '?'}: ${message}` });
  }

  private element(tag: SaxesTagNS): XmlElement {
    const attrs: Record<string, string> = {};
    // Catalogue attributes carry no prefix; namespace declarations and xsi:* are not data.
    for (const a of Object.values(tag.attributes)) if (!a.prefix && a.local !== 'xmlns') attrs[a.local] = a.value;
    return { name: tag.local, attrs, children: [], line: this.tagLine };
  }

  private keep(weakness: XmlElement): void {
    const entry = toEntry(weakness, this.report);
    if (!entry) return;
    const viewIds = items(weakness, 'Related_Weaknesses', 'Related_Weakness')
      .map((r) => (r.attrs.View_ID ?? '').trim())
      .filter((v) => v !== '');
    if (viewIds.length > 0) this.relationViews.set(entry.id, [...new Set(viewIds)]);
    if (this.entries.has(entry.id)) this.report({ line: weakness.line, field: 'ID', message: `${entry.id} appears again; this later one is kept` });
    this.entries.set(entry.id, entry);
  }
}

// ---------------------------------------------------------------------------------------------
// Element trees to entries

function childrenNamed(el: XmlElement | undefined, name: string): XmlElement[] {
  if (!el) return [];
  return el.children.filter((c): c is XmlElement => typeof c !== 'string' && c.name === name);
}

function child(el: XmlElement | undefined, name: string): XmlElement | undefined {
  return childrenNamed(el, name)[0];
}

/** Children of `el`'s `<group>` named `item`: `Potential_Mitigations/Mitigation` and the like. */
function items(el: XmlElement, group: string, item: string): XmlElement[] {
  return childrenNamed(child(el, group), item);
}

/** All text under an element, whitespace collapsed: for short fields such as Phase or Term. */
function plainText(el: XmlElement | undefined): string {
  if (!el) return '';
  const parts: string[] = [];
  const walk = (node: XmlNode): void => {
    if (typeof node === 'string') parts.push(node);
    else node.children.forEach(walk);
  };
  walk(el);
  return parts.join('').replace(/\s+/g, ' ').trim();
}

function optional(text: string): string | undefined {
  return text === '' ? undefined : text;
}

function toEntry(w: XmlElement, report: (p: CatalogProblem) => void): CweEntry | undefined {
  const id = parseCweId(w.attrs.ID);
  if (!id) {
    report({ line: w.line, field: 'ID', message: `skipped a <Weakness> whose ID is ${w.attrs.ID === undefined ? 'missing' : `not a CWE id: ${JSON.stringify(w.attrs.ID.slice(0, 40))}`}` });
    return undefined;
  }
  const name = (w.attrs.Name ?? '').replace(/\s+/g, ' ').trim();
  if (!name) {
    report({ line: w.line, field: 'Name', message: `skipped ${id}: it has no Name` });
    return undefined;
  }
  const entry: CweEntry = {
    id,
    name,
    abstraction: optional((w.attrs.Abstraction ?? '').trim()),
    status: optional((w.attrs.Status ?? '').trim()),
    description: prose(child(w, 'Description')),
    extendedDescription: optional(prose(child(w, 'Extended_Description'))),
    mitigations: mitigations(w),
    parents: chooseParents(items(w, 'Related_Weaknesses', 'Related_Weakness').map((r) => ({ nature: r.attrs.Nature, cweId: r.attrs.CWE_ID, viewId: r.attrs.View_ID, ordinal: r.attrs.Ordinal }))),
  };
  // The XML-only fields are left out when empty, so "has observed examples" is a presence test.
  const alternateTerms = items(w, 'Alternate_Terms', 'Alternate_Term')
    .map((t) => ({ term: plainText(child(t, 'Term')), description: optional(prose(child(t, 'Description'))) }))
    .filter((t) => t.term !== '');
  const observedExamples = items(w, 'Observed_Examples', 'Observed_Example')
    .map((o) => ({ reference: optional(plainText(child(o, 'Reference'))), description: prose(child(o, 'Description')) }))
    .filter((o) => o.reference !== undefined || o.description !== '');
  const backgroundDetails = items(w, 'Background_Details', 'Background_Detail')
    .map(prose)
    .filter((t) => t !== '');
  const demonstrativeExamples = items(w, 'Demonstrative_Examples', 'Demonstrative_Example')
    .map(demonstrativeExample)
    .filter((d) => d.prose.length > 0 || d.blocks.length > 0);
  if (alternateTerms.length > 0) entry.alternateTerms = alternateTerms;
  if (observedExamples.length > 0) entry.observedExamples = observedExamples;
  if (demonstrativeExamples.length > 0) entry.demonstrativeExamples = demonstrativeExamples;
  if (backgroundDetails.length > 0) entry.backgroundDetails = backgroundDetails;
  const platforms = childrenNamed(child(w, 'Applicable_Platforms'), 'Language')
    .map((l) => (l.attrs.Name ?? l.attrs.Class ?? '').trim())
    .filter((l) => l !== '');
  if (platforms.length > 0) entry.platforms = [...new Set(platforms)];
  const usage = plainText(child(child(w, 'Mapping_Notes'), 'Usage'));
  if (usage) entry.mappingUsage = usage;
  const likelihood = plainText(child(w, 'Likelihood_Of_Exploit'));
  if (likelihood) entry.likelihoodOfExploit = likelihood;
  return entry;
}

/** Mitigations with a description (as the CSV reader keeps them); several phases join with ", ". */
function mitigations(w: XmlElement): CweMitigation[] {
  return items(w, 'Potential_Mitigations', 'Mitigation')
    .map((m) => ({
      phase: optional(
        childrenNamed(m, 'Phase')
          .map(plainText)
          .filter((p) => p !== '')
          .join(', '),
      ),
      strategy: optional(plainText(child(m, 'Strategy'))),
      description: prose(child(m, 'Description')),
      effectiveness: optional(plainText(child(m, 'Effectiveness'))),
    }))
    .filter((m) => m.description !== '');
}

function demonstrativeExample(d: XmlElement): CweDemonstrativeExample {
  const example: CweDemonstrativeExample = { id: optional((d.attrs.Demonstrative_Example_ID ?? '').trim()), prose: [], blocks: [] };
  for (const part of d.children) {
    if (typeof part === 'string') continue;
    if (part.name === 'Intro_Text' || part.name === 'Body_Text') {
      const text = prose(part);
      if (text) example.prose.push(text);
    } else if (part.name === 'Example_Code') {
      const block: CweCodeBlock = { nature: (part.attrs.Nature ?? '').trim().toLowerCase(), language: optional((part.attrs.Language ?? '').trim()), code: code(part) };
      if (block.code) example.blocks.push(block);
    }
  }
  return example;
}

// ---------------------------------------------------------------------------------------------
// XHTML to text

/**
 * Lays XHTML out as lines. Whitespace in the text is the XML's pretty printing, so each run of it
 * becomes one space; the structure comes from the markup: `<br/>` ends a line (two in a row leave a
 * blank one), a block element (`div`, `p`, `li`, `tr`...) starts and ends one, table cells are
 * separated by " | ", and a `margin-left` div indents its lines one level more. Inline elements
 * (`i`, `b`, `span`...) just give their text.
 */
class LineLayout {
  level = 0;
  private readonly lines: { indent: number; text: string }[] = [];
  private text = '';
  private indent = 0;

  addText(raw: string): void {
    let run = raw.replace(/\s+/g, ' ');
    if (this.text === '' || this.text.endsWith(' ')) run = run.trimStart();
    if (run === '') return;
    // A line takes the indentation of the block it starts in.
    if (this.text === '') this.indent = this.level;
    this.text += run;
  }

  lineBreak(): void {
    this.lines.push({ indent: this.indent, text: this.text });
    this.text = '';
  }

  blockBoundary(): void {
    if (this.text !== '') this.lineBreak();
  }

  cellBoundary(): void {
    if (this.text !== '') this.text = `${this.text.trimEnd()} | `;
  }

  /** Code: indented lines, trailing spaces and the blank lines around the block removed. */
  asCode(): string {
    this.blockBoundary();
    const lines = this.lines.map((l) => (l.text === '' ? '' : `${' '.repeat(CODE_INDENT * l.indent)}${l.text.trimEnd()}`));
    while (lines.length > 0 && lines[0] === '') lines.shift();
    while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
    return lines.join('\n');
  }

  /** Prose: one paragraph per line, no indentation, no blank lines. */
  asProse(): string {
    this.blockBoundary();
    return this.lines
      .map((l) => l.text.trim())
      .filter((l) => l !== '')
      .join('\n');
  }
}

/** Indentation levels a block element adds: one for a `margin-left` style (MITRE always writes 1em). */
function indentStep(el: XmlElement): number {
  return /margin-left\s*:\s*[1-9]/.test(el.attrs.style ?? '') ? 1 : 0;
}

function layOut(nodes: readonly XmlNode[], out: LineLayout): void {
  for (const node of nodes) {
    if (typeof node === 'string') {
      out.addText(node);
    } else if (node.name === 'br') {
      out.lineBreak();
    } else if (XHTML_BLOCKS.has(node.name)) {
      const step = indentStep(node);
      out.blockBoundary();
      out.level += step;
      layOut(node.children, out);
      out.blockBoundary();
      out.level -= step;
    } else {
      if (XHTML_CELLS.has(node.name)) out.cellBoundary();
      layOut(node.children, out);
    }
  }
}

/** An `Example_Code` element as source text (see {@link LineLayout}; {@link CODE_INDENT} spaces a level). */
function code(el: XmlElement): string {
  const out = new LineLayout();
  layOut(el.children, out);
  return out.asCode();
}

/** A prose element (description, intro or body text, mitigation) as paragraphs joined by newlines. */
function prose(el: XmlElement | undefined): string {
  if (!el) return '';
  const out = new LineLayout();
  layOut(el.children, out);
  return out.asProse();
}
