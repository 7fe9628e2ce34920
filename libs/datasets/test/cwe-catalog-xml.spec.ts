import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import * as zlib from 'node:zlib';
import { type CatalogProblem, CODE_INDENT, type CweEntry, readCweCatalog, readCweCatalogXml } from '@rescue/datasets';
import { type CweId, InvalidInputError } from '@rescue/domain';
import { TempDirs } from './helpers';

/** Our own invented weaknesses in the layout of MITRE's XML catalogue. */
const FIXTURE = join(__dirname, 'fixtures', 'cwe-mini.xml');
const FIXTURE_TEXT = readFileSync(FIXTURE, 'utf8');
/** MITRE's real catalogue, beside the repository (not in it): /work/shared/data/cwe. */

/** 1-based line of the first fixture line containing `needle`. */
function lineOf(text: string, needle: string): number {
  const i = text.split('\n').findIndex((l) => l.includes(needle));
  if (i < 0) throw new Error(`no line contains ${needle}`);
  return i + 1;
}

const indent = (levels: number) => ' '.repeat(CODE_INDENT * levels);

// ---------------------------------------------------------------------------------------------
// A minimal zip writer (no zip-writing library is installed): local headers, data, central
// directory, end record. Entries are stored (method 0) or deflated (method 8).

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

/** CRC-32 (ISO-HDLC), continued from `crc` so data can come in pieces; node's own when it has one (20.15+). */
const crc32: (data: Buffer, crc?: number) => number = typeof zlib.crc32 === 'function' ? (data, crc) => zlib.crc32(data, crc) : tableCrc32;

function tableCrc32(data: Buffer, crc = 0): number {
  let c = (crc ^ 0xffffffff) >>> 0;
  for (const byte of data) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

interface ZipItem {
  name: string;
  /** Bytes as stored in the zip (deflated when method is 8). */
  stored: Buffer;
  method: 0 | 8;
  crc: number;
  size: number;
}

function storedItem(name: string, data: Buffer | string): ZipItem {
  const bytes = Buffer.from(data);
  return { name, stored: bytes, method: 0, crc: crc32(bytes), size: bytes.length };
}

function deflatedItem(name: string, data: Buffer | string): ZipItem {
  const bytes = Buffer.from(data);
  return { name, stored: zlib.deflateRawSync(bytes), method: 8, crc: crc32(bytes), size: bytes.length };
}

/** A deflated entry made of `parts`, compressed as a stream so the whole content is never in memory. */
async function streamedDeflatedItem(name: string, parts: () => Iterable<Buffer>): Promise<ZipItem> {
  let crc = 0;
  let size = 0;
  const counted = function* () {
    for (const p of parts()) {
      crc = crc32(p, crc);
      size += p.length;
      yield p;
    }
  };
  const out: Buffer[] = [];
  const deflate = zlib.createDeflateRaw({ level: 9 });
  const done = new Promise<void>((resolve, reject) => {
    deflate.on('data', (b: Buffer) => out.push(b));
    deflate.on('end', resolve);
    deflate.on('error', reject);
  });
  Readable.from(counted()).pipe(deflate);
  await done;
  return { name, stored: Buffer.concat(out), method: 8, crc, size };
}

function zipOf(items: ZipItem[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const item of items) {
    const name = Buffer.from(item.name, 'utf8');
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(0x0800, 6); // UTF-8 names
    local.writeUInt16LE(item.method, 8);
    local.writeUInt16LE(0, 10); // time
    local.writeUInt16LE(0x21, 12); // date: 1980-01-01
    local.writeUInt32LE(item.crc, 14);
    local.writeUInt32LE(item.stored.length, 18);
    local.writeUInt32LE(item.size, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4); // made by
    central.writeUInt16LE(20, 6); // needed
    central.writeUInt16LE(0x0800, 8);
    central.writeUInt16LE(item.method, 10);
    central.writeUInt16LE(0, 12);
    central.writeUInt16LE(0x21, 14);
    central.writeUInt32LE(item.crc, 16);
    central.writeUInt32LE(item.stored.length, 20);
    central.writeUInt32LE(item.size, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, item.stored);
    centrals.push(central, name);
    offset += local.length + name.length + item.stored.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(items.length, 8);
  end.writeUInt16LE(items.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

// ---------------------------------------------------------------------------------------------

describe('readCweCatalogXml on a small fixture', () => {
  let entries: Map<CweId, CweEntry>;
  const problems: CatalogProblem[] = [];

  beforeAll(async () => {
    entries = await readCweCatalogXml(FIXTURE, (p) => problems.push(p));
  });

  it('keeps the weaknesses, skips the deprecated one silently and reports the ones without ID or Name by line', () => {
    expect([...entries.keys()]).toEqual(['CWE-4242', 'CWE-4243', 'CWE-4245']);
    expect(problems).toEqual([
      { line: lineOf(FIXTURE_TEXT, 'Name="Weakness Without An Id"'), field: 'ID', message: expect.stringContaining('ID is missing') },
      { line: lineOf(FIXTURE_TEXT, 'Weakness ID="4246"'), field: 'Name', message: 'skipped CWE-4246: it has no Name' },
    ]);
  });

  it('reads applicable platforms, likelihood of exploit and the views that list each weakness, directly or through a category', () => {
    const e = entries.get('CWE-4242')!;
    expect(e.platforms).toEqual(['C', 'Memory-Unsafe']);
    expect(e.likelihoodOfExploit).toBe('High');
    // 699 and 1000 come from its relations (graph views), the others from view and category members.
    expect(e.views?.map((v) => v.id)).toEqual(['699', '1000', '4297', '4298']);
    // Views not in the document are known by id only.
    expect(e.views?.map((v) => v.name)).toEqual(['', '', 'Widget Top Two', 'Widget View']);
    expect(entries.get('CWE-4243')!.views?.map((v) => v.id)).toEqual(expect.arrayContaining(['4298']));
  });

  it('reads the attributes and flattens descriptions: whitespace collapsed, one paragraph a line', () => {
    const e = entries.get('CWE-4242')!;
    expect(e).toMatchObject({ id: 'CWE-4242', name: 'Unchecked Widget Length', abstraction: 'Base', status: 'Draft' });
    expect(e.description).toBe('The widget copies a caller-supplied length without comparing it to the size of its buffer.');
    expect(e.extendedDescription).toBe('A widget that trusts the length field can be made to write past its buffer.\nWidgets built before the sizing rework are the usual suspects.');
    expect(entries.get('CWE-4243')!.name).toBe('Servlet Echoes "Name" Parameter');
    expect(entries.get('CWE-4243')!.extendedDescription).toBeUndefined();
  });

  it('reads mitigations: phases joined, strategy, list items as lines, effectiveness; drops those without a description', () => {
    expect(entries.get('CWE-4242')!.mitigations).toEqual([
      {
        phase: 'Implementation, Build and Compilation',
        strategy: 'Input Validation',
        description: 'Check the length first: reject anything over the buffer size.\nCompare against sizeof, not a constant.\nFail closed.',
        effectiveness: 'High',
      },
    ]);
    expect(entries.get('CWE-4245')!.mitigations).toEqual([{ description: 'Guard the counter with a mutex.' }]);
    expect(entries.get('CWE-4243')!.mitigations).toEqual([]);
  });

  it('takes ChildOf parents from view 1000 when present, Primary first, without repeats, like the CSV reader', () => {
    expect(entries.get('CWE-4242')!.parents).toEqual(['CWE-4241', 'CWE-4240']);
    expect(entries.get('CWE-4245')!.parents).toEqual(['CWE-4243', 'CWE-4242']);
    // Only a view-699 ChildOf: it is used; PeerOf is not a parent.
    expect(entries.get('CWE-4243')!.parents).toEqual(['CWE-4299']);
  });

  it('reads alternate terms, observed examples and background details, and leaves them out when absent', () => {
    const e = entries.get('CWE-4242')!;
    expect(e.alternateTerms).toEqual([
      { term: 'Widget overrun', description: 'Used by widget vendors.' },
      { term: 'WLO', description: undefined },
    ]);
    expect(e.observedExamples).toEqual([{ reference: 'CVE-0000-4242', description: 'Widget firmware overruns its buffer on long packets.' }]);
    expect(e.backgroundDetails).toEqual(['A widget keeps its payload in a fixed array.', 'Lengths arrive from the wire.']);
    const bare = entries.get('CWE-4243')!;
    expect(bare.alternateTerms).toBeUndefined();
    expect(bare.observedExamples).toBeUndefined();
    expect(bare.backgroundDetails).toBeUndefined();
  });

  it('reads demonstrative examples: id, intro and body texts in order, blocks with lowercased nature and language as written', () => {
    const [first, second] = entries.get('CWE-4242')!.demonstrativeExamples!;
    expect(first.id).toBe('DX-9001');
    expect(first.prose).toEqual(["This routine copies a packet's payload into a stack buffer.", 'Nothing stops len from exceeding WIDGET_MAX.', 'The check now uses the real size.']);
    expect(first.blocks.map((b) => [b.nature, b.language])).toEqual([
      ['bad', 'C'],
      ['good', 'C'],
    ]);
    expect(second).toEqual({ id: undefined, prose: ['An attacker sends a long packet:'], blocks: [{ nature: 'attack', language: undefined, code: 'len=4096 data=AAAA...' }] });
  });

  it('lays C code out as code: margin divs indent, <br/> breaks lines, a double <br/> leaves a blank line, entities decoded', () => {
    const [bad, good] = entries.get('CWE-4242')!.demonstrativeExamples![0].blocks;
    expect(bad.code).toBe(
      [
        '#define WIDGET_MAX 32',
        'void widget_copy(const struct packet *p) {',
        `${indent(1)}char buf[WIDGET_MAX];`,
        `${indent(1)}/* the length comes from the packet & is trusted */`,
        `${indent(1)}memcpy(buf, p->data, p->len);`,
        '',
        `${indent(1)}if (p->len < 4) {`,
        `${indent(2)}return;`,
        `${indent(1)}}`,
        '}',
      ].join('\n'),
    );
    expect(good.code).toBe(
      [
        'void widget_copy(const struct packet *p) {',
        `${indent(1)}char buf[WIDGET_MAX];`,
        `${indent(1)}if (p->len > sizeof(buf)) {`,
        `${indent(2)}return;`,
        `${indent(1)}}`,
        `${indent(1)}memcpy(buf, p->data, p->len);`,
        '}',
      ].join('\n'),
    );
  });

  it('keeps the text of inline elements and ignores divs without a margin (Java)', () => {
    expect(entries.get('CWE-4243')!.demonstrativeExamples![0].blocks[0].code).toBe(
      [
        'public class Greeter extends HttpServlet {',
        `${indent(1)}protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {`,
        `${indent(2)}String who = req.getParameter("name");`,
        `${indent(2)}resp.getWriter().println("<p>Hello, " + who + "</p>");`,
        `${indent(1)}}`,
        '}',
      ].join('\n'),
    );
  });

  it('drops the pretty-printing whitespace of a Python block but keeps its indentation, blank lines and CDATA text', () => {
    const [bad, good] = entries.get('CWE-4245')!.demonstrativeExamples![0].blocks;
    expect(bad.code).toBe(
      [
        'import threading',
        '',
        'hits = 0',
        '',
        'def worker(n):',
        `${indent(1)}global hits`,
        `${indent(1)}for _ in range(n):`,
        `${indent(2)}hits += 1 # not atomic`,
        '',
        'print("done: %d" % hits)',
      ].join('\n'),
    );
    expect(good.code).toBe(['lock = threading.Lock()', 'with lock:', `${indent(1)}hits += 1`].join('\n'));
    for (const line of bad.code.split('\n')) expect(line).not.toMatch(/\s$|\t/);
  });
});

describe('readCweCatalog dispatch', () => {
  const dirs = new TempDirs();
  afterAll(() => dirs.cleanup());

  it('reads .xml and .zip (any case) with the XML reader, giving the same entries, and CSV with the CSV reader', async () => {
    const dir = dirs.make('cwe-xml');
    const zipPath = join(dir, 'cwec_mini.XML.ZIP');
    writeFileSync(zipPath, zipOf([deflatedItem('cwec_mini.xml', FIXTURE_TEXT)]));
    const upper = join(dir, 'MINI.XML');
    writeFileSync(upper, FIXTURE_TEXT);
    const fromXml = await readCweCatalog(FIXTURE);
    const zipProblems: CatalogProblem[] = [];
    const fromZip = await readCweCatalog(zipPath, (p) => zipProblems.push(p));
    expect(fromZip).toEqual(fromXml);
    expect(await readCweCatalog(upper)).toEqual(fromXml);
    expect(zipProblems.map((p) => [p.entry, p.field])).toEqual([
      ['cwec_mini.xml', 'ID'],
      ['cwec_mini.xml', 'Name'],
    ]);
    const fromCsv = await readCweCatalog(join(__dirname, 'fixtures', 'cwe-mini.csv'));
    expect(fromCsv.get('CWE-4242')?.name).toBe('Unchecked Widget Length');
    expect(fromCsv.get('CWE-4242')?.demonstrativeExamples).toBeUndefined();
  });

  it('reads a stored (uncompressed) entry too', async () => {
    const p = join(dirs.make('cwe-xml'), 'stored.zip');
    writeFileSync(p, zipOf([storedItem('cwec.xml', FIXTURE_TEXT)]));
    expect([...(await readCweCatalog(p)).keys()]).toEqual(['CWE-4242', 'CWE-4243', 'CWE-4245']);
  });
});

/** The fixture up to the end of the weakness with the given ID (its closing tag included). */
function fixtureThrough(id: string): string {
  const start = FIXTURE_TEXT.indexOf(`<Weakness ID="${id}"`);
  const end = FIXTURE_TEXT.indexOf('</Weakness>', start) + '</Weakness>'.length;
  return FIXTURE_TEXT.slice(0, end);
}

describe('readCweCatalogXml on bad input', () => {
  const dirs = new TempDirs();
  afterAll(() => dirs.cleanup());

  it('keeps the weaknesses before a well-formedness error and reports its line:column; the one it is in is dropped', async () => {
    const text = `${fixtureThrough('4243')}\n      <Weakness ID="4247" Name="Broken" Abstraction="Base" Status="Draft">\n         <Description>oops</Descriptio>\n      </Weakness>\n${FIXTURE_TEXT.slice(fixtureThrough('4243').length)}`;
    const p = join(dirs.make('cwe-xml'), 'broken.xml');
    writeFileSync(p, text);
    const problems: CatalogProblem[] = [];
    const m = await readCweCatalogXml(p, (x) => problems.push(x));
    expect([...m.keys()]).toEqual(['CWE-4242', 'CWE-4243']);
    const line = lineOf(text, '</Descriptio>');
    const column = text.split('\n')[line - 1].indexOf('</Descriptio>') + '</Descriptio>'.length;
    expect(problems).toEqual([
      { line, column, field: 'xml', message: expect.stringMatching(new RegExp(`^${line}:${column}: unexpected close tag.*ID 4247, from line ${line - 1}.*rest of the input were not read`)) },
    ]);
  });

  it('keeps the complete weaknesses of a cut-off file and reports the unclosed elements', async () => {
    const text = fixtureThrough('4243') + '\n      <Weakness ID="4245" Name="Cut" Abstraction="Base" Status="Draft">\n         <Descr';
    const p = join(dirs.make('cwe-xml'), 'cut.xml');
    writeFileSync(p, text);
    const problems: CatalogProblem[] = [];
    const m = await readCweCatalogXml(p, (x) => problems.push(x));
    expect([...m.keys()]).toEqual(['CWE-4242', 'CWE-4243']);
    expect(problems).toHaveLength(1);
    expect(problems[0].line).toBe(text.split('\n').length);
    expect(problems[0].message).toMatch(/unclosed tag|unexpected end/);
  });

  it('throws, with the place, when the error comes before any weakness is complete', async () => {
    const p = join(dirs.make('cwe-xml'), 'early.xml');
    writeFileSync(p, '<?xml version="1.0"?>\n<Weakness_Catalog>\n  <Weaknesses>\n    <Weakness ID="1" Name="x">< /Weakness>\n');
    await expect(readCweCatalogXml(p)).rejects.toThrow(InvalidInputError);
    await expect(readCweCatalogXml(p)).rejects.toThrow(/early\.xml:4:\d+: .*no weakness was complete/);
  });

  it('refuses an XML document that is not a Weakness_Catalog', async () => {
    const p = join(dirs.make('cwe-xml'), 'other.xml');
    writeFileSync(p, '<?xml version="1.0"?><project><Weaknesses/></project>');
    await expect(readCweCatalogXml(p)).rejects.toThrow(/root element is <project>, not <Weakness_Catalog>/);
  });

  it('does not expand DOCTYPE entities: a "billion laughs" reference is an undefined-entity error, the weaknesses before it are kept', async () => {
    const laughs = ['<!ENTITY lol0 "lol">', ...Array.from({ length: 9 }, (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i};`.repeat(10)}">`)].join('\n  ');
    const head = FIXTURE_TEXT.indexOf('<Weakness_Catalog');
    const body = fixtureThrough('4243').slice(head);
    const text = `<?xml version="1.0"?>\n<!DOCTYPE Weakness_Catalog [\n  ${laughs}\n]>\n${body}\n      <Weakness ID="4248" Name="Laughs"><Description>&lol9;</Description></Weakness>\n   </Weaknesses>\n</Weakness_Catalog>\n`;
    const p = join(dirs.make('cwe-xml'), 'laughs.xml');
    writeFileSync(p, text);
    const problems: CatalogProblem[] = [];
    const heapBefore = process.memoryUsage().heapUsed;
    const m = await readCweCatalogXml(p, (x) => problems.push(x));
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(64 * 1024 * 1024);
    expect([...m.keys()]).toEqual(['CWE-4242', 'CWE-4243']);
    expect(problems).toEqual([expect.objectContaining({ line: lineOf(text, '&lol9;'), field: 'xml', message: expect.stringContaining('undefined entity') })]);
  });

  it('stops at bytes that are not UTF-8, keeping the weaknesses before them', async () => {
    const before = Buffer.from(`${fixtureThrough('4243')}\n      <Weakness ID="4249" Name="Latin-1"><Description>caf`);
    const p = join(dirs.make('cwe-xml'), 'latin1.xml');
    writeFileSync(p, Buffer.concat([before, Buffer.from([0xe9]), Buffer.from('</Description></Weakness></Weaknesses></Weakness_Catalog>')]));
    const problems: CatalogProblem[] = [];
    const m = await readCweCatalogXml(p, (x) => problems.push(x));
    expect([...m.keys()]).toEqual(['CWE-4242', 'CWE-4243']);
    expect(problems).toEqual([expect.objectContaining({ field: 'file', message: expect.stringContaining(`not valid UTF-8 at byte offset ${before.length}`) })]);
  });

  it('decodes a character cut by a chunk boundary (the file stream reads 64 KiB at a time)', async () => {
    const head = `${fixtureThrough('4243')}\n      <Weakness ID="4250" Name="Caf\u00e9 \u20ac"><Description>`;
    const pad = 'a'.repeat(65535 - Buffer.byteLength(head));
    const text = `${head}${pad}\u00e9\u20ac</Description></Weakness></Weaknesses></Weakness_Catalog>`;
    expect(Buffer.from(text).subarray(65535, 65537)).toEqual(Buffer.from('\u00e9'));
    const p = join(dirs.make('cwe-xml'), 'boundary.xml');
    writeFileSync(p, text);
    const problems: CatalogProblem[] = [];
    const m = await readCweCatalogXml(p, (x) => problems.push(x));
    expect(problems).toEqual([]);
    expect(m.get('CWE-4250')?.name).toBe('Caf\u00e9 \u20ac');
    expect(m.get('CWE-4250')?.description).toBe(`${pad}\u00e9\u20ac`);
  });

  it('skips and reports a weakness nested absurdly deep, and reads the next one', async () => {
    const deep = `${'<xhtml:div>'.repeat(300)}x${'</xhtml:div>'.repeat(300)}`;
    const text = `<Weakness_Catalog xmlns:xhtml="http://www.w3.org/1999/xhtml"><Weaknesses>\n<Weakness ID="1" Name="Deep"><Description>${deep}</Description></Weakness>\n<Weakness ID="2" Name="Flat"><Description>ok</Description></Weakness>\n</Weaknesses></Weakness_Catalog>`;
    const p = join(dirs.make('cwe-xml'), 'deep.xml');
    writeFileSync(p, text);
    const problems: CatalogProblem[] = [];
    const m = await readCweCatalogXml(p, (x) => problems.push(x));
    expect([...m.keys()]).toEqual(['CWE-2']);
    expect(problems).toEqual([{ line: 2, field: 'Weakness', message: 'skipped the weakness with ID 1: elements nest more than 200 deep' }]);
  });

  it('reads the first .xml entry of a zip and reports every other entry as skipped by name', async () => {
    const p = join(dirs.make('cwe-xml'), 'extra.zip');
    writeFileSync(
      p,
      zipOf([
        storedItem('README.txt', 'read me'),
        storedItem('docs/', ''),
        deflatedItem('__MACOSX/._cwec.xml', 'junk'),
        deflatedItem('cwec.xml', FIXTURE_TEXT),
        deflatedItem('older/cwec_v0.xml', '<Weakness_Catalog/>'),
      ]),
    );
    const problems: CatalogProblem[] = [];
    const m = await readCweCatalogXml(p, (x) => problems.push(x));
    expect([...m.keys()]).toEqual(['CWE-4242', 'CWE-4243', 'CWE-4245']);
    const skipped = problems.filter((x) => x.field === 'zip');
    expect(skipped.map((x) => x.entry)).toEqual(['README.txt', '__MACOSX/._cwec.xml', 'older/cwec_v0.xml']);
    expect(skipped[0].message).toBe('skipped zip entry README.txt: only the first .xml entry (cwec.xml) is read');
  });

  it('throws InvalidInputError naming the file for a zip without an .xml entry, and for a file that is not a zip', async () => {
    const dir = dirs.make('cwe-xml');
    const noXml = join(dir, 'no-xml.zip');
    writeFileSync(noXml, zipOf([storedItem('cwe.csv', 'CWE-ID,Name\n')]));
    await expect(readCweCatalogXml(noXml)).rejects.toThrow(InvalidInputError);
    await expect(readCweCatalogXml(noXml)).rejects.toThrow(`${noXml} holds no .xml entry: expected MITRE's catalogue (cwec_vX.Y.xml) inside the zip`);
    const notZip = join(dir, 'not.zip');
    writeFileSync(notZip, FIXTURE_TEXT);
    await expect(readCweCatalogXml(notZip)).rejects.toThrow(new RegExp(`${notZip} is not a zip archive`));
  });

  it('stops a zip bomb at the byte cap, reports it and keeps what was read, without inflating the rest', async () => {
    const head = Buffer.from(fixtureThrough('4243'));
    const spaces = Buffer.alloc(1 << 20, 0x20);
    const bombSize = 64; // MiB of whitespace after two weaknesses: about 64 KB deflated
    const bomb = await streamedDeflatedItem('cwec.xml', function* () {
      yield head;
      for (let i = 0; i < bombSize; i += 1) yield spaces;
      yield Buffer.from('</Weaknesses></Weakness_Catalog>');
    });
    expect(bomb.stored.length).toBeLessThan(bomb.size / 500);
    const p = join(dirs.make('cwe-xml'), 'bomb.zip');
    writeFileSync(p, zipOf([bomb]));
    const cap = 1024 * 1024;
    const problems: CatalogProblem[] = [];
    const started = Date.now();
    const m = await readCweCatalogXml(p, (x) => problems.push(x), { maxUncompressedBytes: cap });
    const ms = Date.now() - started;
    expect([...m.keys()]).toEqual(['CWE-4242', 'CWE-4243']);
    expect(problems).toEqual([expect.objectContaining({ field: 'zip', entry: 'cwec.xml', message: expect.stringContaining(`stopped reading cwec.xml at the ${cap}-byte cap`) })]);
    // Stopping at the cap leaves the rest of the entry uninflated: well under a second.
    expect(ms).toBeLessThan(2000);
  });

  it('stops when an entry inflates to more than its header declares (yauzl validateEntrySizes)', async () => {
    const head = Buffer.from(fixtureThrough('4243'));
    const filler = Buffer.alloc(256 * 1024, 0x20);
    const item = deflatedItem('cwec.xml', Buffer.concat([head, filler]));
    const lying = { ...item, size: head.length + 20 * 1024 };
    const p = join(dirs.make('cwe-xml'), 'lying.zip');
    writeFileSync(p, zipOf([lying]));
    const problems: CatalogProblem[] = [];
    const m = await readCweCatalogXml(p, (x) => problems.push(x));
    expect([...m.keys()]).toEqual(['CWE-4242', 'CWE-4243']);
    expect(problems).toEqual([expect.objectContaining({ field: 'file', entry: 'cwec.xml', message: expect.stringContaining('too many bytes') })]);
  });

  it('refuses a directory and a named pipe by name before opening them', async () => {
    const dir = dirs.make('cwe-xml');
    const folder = join(dir, 'catalogue.xml');
    mkdirSync(folder);
    await expect(readCweCatalog(folder)).rejects.toThrow(new InvalidInputError(`${folder} is a directory, not a regular file: give the path of MITRE's cwec_vX.Y.xml or cwec_vX.Y.xml.zip`));
    const fifo = join(dir, 'pipe.xml.zip');
    try {
      execFileSync('mkfifo', [fifo]);
    } catch (err) {
      console.log(`named-pipe case skipped: mkfifo failed (${(err as Error).message})`);
      return;
    }
    expect(existsSync(fifo)).toBe(true);
    const started = Date.now();
    await expect(readCweCatalog(fifo)).rejects.toThrow(/pipe\.xml\.zip is a named pipe, not a regular file/);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('rejects a missing file with ENOENT', async () => {
    await expect(readCweCatalogXml(join(dirs.make('cwe-xml'), 'absent.xml'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
