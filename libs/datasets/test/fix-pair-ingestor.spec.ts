import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  FixPairIngestor,
  FsRecordStore,
  type IngestReport,
  type LineOutcome,
  type Reject,
  type RejectCode,
  REJECT_CODES,
  RecordStoreError,
  type RecordStore,
  fixRecordId,
  parseFixPairLine,
} from '@rescue/datasets';
import type { CweId, Language } from '@rescue/domain';
import { TempDirs, seededRandom } from './helpers';

const dirs = new TempDirs();
afterEach(() => dirs.cleanup());

const at = { file: 'input.jsonl', line: 12 };
const line = (v: unknown): string => JSON.stringify(v);

function rejectOf(outcome: LineOutcome): { code: RejectCode; field?: string; value?: string; message: string } {
  if (outcome.ok) throw new Error(`expected a reject, got record ${outcome.record.id}`);
  return outcome.reject;
}

const genericOk = { language: 'c', cwe: 'CWE-787', before: 'buf[n] = 0;\n', after: 'if (n < len) buf[n] = 0;\n' };
const svenOk = {
  func_name: 'lookup',
  func_src_before: 'def lookup(c, name):\n    c.execute("SELECT * FROM u WHERE n=\'" + name + "\'")\n    return c.fetchone()\n',
  func_src_after: 'def lookup(c, name):\n    c.execute("SELECT * FROM u WHERE n=%s", (name,))\n    return c.fetchone()\n',
  vul_type: 'cwe-089',
  file_name: 'app/users.py',
  commit_link: 'github.com/example/app/commit/0123abcd',
  line_changes: {
    deleted: [{ line_no: 2, char_start: 0, char_end: 60, line: '    c.execute("SELECT * FROM u WHERE n=\'" + name + "\'")' }],
    added: [{ line_no: 2, char_start: 0, char_end: 55, line: '    c.execute("SELECT * FROM u WHERE n=%s", (name,))' }],
  },
  char_changes: { deleted: [], added: [] },
};

/** A store that holds nothing and puts with `putMany`. */
const storeThatPuts = (putMany: RecordStore['putMany']): RecordStore => ({
  putMany,
  get: async () => undefined,
  has: async () => false,
  getMany: async (ids) => ids.map(() => undefined),
  hasMany: async (ids) => ids.map(() => false),
  ids: async function* () {},
  count: async () => 0,
  close: async () => {},
});

describe('parseFixPairLine rejects', () => {
  it.each<[string, string, RejectCode, string | undefined]>([
    ['invalid_json', '{"cwe": "CWE-79", "before": ', 'invalid_json', undefined],
    ['forbidden_key (top)', line(genericOk).replace(/}$/, ',"__proto__":{"isAdmin":true}}'), 'forbidden_key', '__proto__'],
    ['forbidden_key (nested)', line({ ...genericOk, changed_lines: { deleted: [1], added: [1], constructor: 1 } }), 'forbidden_key', 'changed_lines.constructor'],
    ['forbidden_key (prototype)', line({ ...svenOk, line_changes: { deleted: [{ line_no: 1, prototype: 2 }], added: [] } }), 'forbidden_key', 'line_changes.deleted[0].prototype'],
    ['too_deep', `{"cwe":"CWE-1","before":"a","after":"b","x":${'['.repeat(40)}${']'.repeat(40)}}`, 'too_deep', `x${'[0]'.repeat(32)}`],
    ['not_an_object (array)', '[1,2,3]', 'not_an_object', undefined],
    ['not_an_object (null)', 'null', 'not_an_object', undefined],
    ['not_an_object (string)', '"before"', 'not_an_object', undefined],
    ['unknown_format', line({ code: 'x', fix: 'y', cwe: 'CWE-79' }), 'unknown_format', undefined],
    ['missing_field (generic cwe)', line({ language: 'c', before: 'a', after: 'b' }), 'missing_field', 'cwe'],
    ['missing_field (generic after)', line({ language: 'c', cwe: 79, before: 'a' }), 'missing_field', 'after'],
    ['missing_field (sven vul_type)', line({ func_src_before: 'a', func_src_after: 'b', file_name: 'a.c' }), 'missing_field', 'vul_type'],
    ['missing_field (sven before)', line({ func_src_after: 'b', vul_type: 'cwe-079', file_name: 'a.c' }), 'missing_field', 'func_src_before'],
    ['wrong_type (before number)', line({ ...genericOk, before: 42 }), 'wrong_type', 'before'],
    ['wrong_type (language null)', line({ ...genericOk, language: null }), 'wrong_type', 'language'],
    ['wrong_type (nested line_no)', line({ ...svenOk, line_changes: { deleted: [{ line_no: 'two' }], added: [] } }), 'wrong_type', 'line_changes.deleted.0.line_no'],
    ['wrong_type (cwe boolean)', line({ ...genericOk, cwe: true }), 'wrong_type', 'cwe'],
    ['empty_code (before)', line({ ...genericOk, before: ' \n\t\n' }), 'empty_code', 'before'],
    ['empty_code (after)', line({ ...genericOk, after: '' }), 'empty_code', 'after'],
    ['empty_code (sven after)', line({ ...svenOk, func_src_after: '\r\n' }), 'empty_code', 'func_src_after'],
    ['identical_before_after', line({ ...genericOk, after: genericOk.before }), 'identical_before_after', 'before,after'],
    ['identical_before_after (CRLF vs LF)', line({ ...genericOk, before: 'x;\r\ny;\r\n', after: 'x;\ny;\n' }), 'identical_before_after', 'before,after'],
    ['identical_before_after (sven)', line({ ...svenOk, func_src_after: svenOk.func_src_before }), 'identical_before_after', 'func_src_before,func_src_after'],
    ['unknown_language (name)', line({ ...genericOk, language: 'cobol' }), 'unknown_language', 'language'],
    ['unknown_language (no language, unknown ext)', line({ cwe: 79, before: 'a', after: 'b', file_name: 'x.unknownext' }), 'unknown_language', 'file_name'],
    ['unknown_language (neither)', line({ cwe: 79, before: 'a', after: 'b' }), 'unknown_language', 'file_name'],
    ['unknown_language (sven)', line({ ...svenOk, file_name: 'Makefile' }), 'unknown_language', 'file_name'],
    ['malformed_cwe (generic)', line({ ...genericOk, cwe: 'CWE-abc' }), 'malformed_cwe', 'cwe'],
    ['malformed_cwe (zero)', line({ ...genericOk, cwe: 0 }), 'malformed_cwe', 'cwe'],
    ['malformed_cwe (sven)', line({ ...svenOk, vul_type: 'sqli' }), 'malformed_cwe', 'vul_type'],
  ])('%s', (_name, text, code, field) => {
    const r = rejectOf(parseFixPairLine(text, 'auto', at));
    expect(r.code).toBe(code);
    expect(r.field).toBe(field);
    expect(r.message.length).toBeGreaterThan(0);
  });

  it('gives the offending value as an excerpt', () => {
    expect(rejectOf(parseFixPairLine(line({ ...genericOk, cwe: 'CWE-abc' }), 'auto', at)).value).toBe('CWE-abc');
    expect(rejectOf(parseFixPairLine(line({ ...genericOk, before: 42 }), 'auto', at)).value).toBe('42');
    expect(rejectOf(parseFixPairLine(line({ ...genericOk, language: 'x'.repeat(200) }), 'auto', at)).value).toBe(`${'x'.repeat(80)}…`);
    expect(rejectOf(parseFixPairLine(line({ language: 'c', before: 'a', after: 'b' }), 'auto', at)).value).toBeUndefined();
  });

  it('checks the CWE before the language', () => {
    expect(rejectOf(parseFixPairLine(line({ ...genericOk, cwe: 'nope', language: 'cobol' }), 'auto', at)).code).toBe('malformed_cwe');
  });

  it('a forced format validates against that schema', () => {
    expect(rejectOf(parseFixPairLine(line(genericOk), 'sven', at))).toMatchObject({ code: 'missing_field', field: 'func_src_before' });
    expect(rejectOf(parseFixPairLine(line(svenOk), 'generic', at))).toMatchObject({ code: 'missing_field', field: 'cwe' });
    const forced = parseFixPairLine(line(svenOk), 'safecoder', at);
    expect(forced.ok && forced.record.origin.format).toBe('safecoder');
  });
});

describe('parseFixPairLine accepts', () => {
  it('a SVEN line', () => {
    const r = parseFixPairLine(line(svenOk), 'auto', at);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const before = svenOk.func_src_before;
    const after = svenOk.func_src_after;
    expect(r.record).toEqual({
      id: fixRecordId('python', 'CWE-89', before, after),
      language: 'python',
      cwe: 'CWE-89',
      before,
      after,
      changedLines: { deleted: [2], added: [2], source: 'dataset' },
      functionName: 'lookup',
      filePath: 'app/users.py',
      sourceUrl: 'https://github.com/example/app/commit/0123abcd',
      origin: { file: 'input.jsonl', line: 12, format: 'sven' },
    });
  });

  it('a SafeCoder line (description, commit_msg, null line_changes → diff)', () => {
    const sc = {
      func_name: 'render',
      func_src_before: 'function render(el, s) {\n  el.innerHTML = s;\n}',
      func_src_after: 'function render(el, s) {\n  el.textContent = s;\n}',
      vul_type: 'cwe-079',
      file_name: 'web/render.jsx',
      commit_link: 'https://github.com/example/web/commit/ffee',
      line_changes: null,
      description: 'Render a user string into an element.\n',
      commit_msg: 'Use textContent\r\n\r\nAvoid XSS.',
      parent_commit: 'abc',
    };
    const r = parseFixPairLine(line(sc), 'auto', at);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.record).toMatchObject({
      id: fixRecordId('javascript', 'CWE-79', sc.func_src_before, sc.func_src_after),
      language: 'javascript',
      cwe: 'CWE-79',
      description: 'Render a user string into an element.',
      commitMessage: 'Use textContent\n\nAvoid XSS.',
      sourceUrl: sc.commit_link,
      changedLines: { deleted: [2], added: [2], source: 'diff' },
      origin: { file: 'input.jsonl', line: 12, format: 'safecoder' },
    });
  });

  it('a generic line with a language alias', () => {
    const g = { language: 'C++', cwe: 'CWE_416', before: 'delete p;\nuse(p);\n', after: 'use(p);\ndelete p;\n', function_name: 'f', source_url: 'https://example.org/x', commit_message: 'fix uaf' };
    const r = parseFixPairLine(line(g), 'auto', at);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.record).toMatchObject({
      id: fixRecordId('cpp', 'CWE-416', g.before, g.after),
      language: 'cpp',
      cwe: 'CWE-416',
      functionName: 'f',
      sourceUrl: 'https://example.org/x',
      commitMessage: 'fix uaf',
      origin: { format: 'generic' },
    });
    expect(r.record.changedLines.source).toBe('diff');
  });

  it('a generic line whose language comes from file_name', () => {
    const r = parseFixPairLine(line({ cwe: 22, before: 'open(p)', after: 'open(clean(p))', file_name: 'cmd/serve.go' }), 'auto', at);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.record.language).toBe('go');
    expect(r.record.cwe).toBe('CWE-22');
    expect(r.record.filePath).toBe('cmd/serve.go');
    expect(r.record.changedLines).toEqual({ deleted: [1], added: [1], source: 'diff' });
  });

  it('is pure: the same line gives the same record', () => {
    expect(parseFixPairLine(line(svenOk), 'auto', at)).toEqual(parseFixPairLine(line(svenOk), 'auto', at));
  });
});

// ---------------------------------------------------------------------------------------------

interface Good {
  text: string;
  id: string;
  language: Language;
  cwe: CweId;
  format: 'generic' | 'sven';
}

const GOOD_LANGS: Array<[Language, string, string]> = [
  ['c', 'C', '.c'],
  ['cpp', 'c++', '.cc'],
  ['python', 'Python', '.py'],
  ['javascript', 'js', '.js'],
  ['go', 'golang', '.go'],
  ['ruby', 'ruby', '.rb'],
  ['java', 'java', '.java'],
];
const GOOD_CWES: Array<[CweId, unknown]> = [
  ['CWE-79', 'cwe-079'],
  ['CWE-89', 89],
  ['CWE-22', 'CWE_22'],
  ['CWE-787', '787'],
  ['CWE-416', 'CWE-416'],
];

/** A distinct valid record, alternating the generic and SVEN formats. */
function goodLine(i: number): Good {
  const [language, alias, ext] = GOOD_LANGS[i % GOOD_LANGS.length];
  const [cwe, cweRaw] = GOOD_CWES[i % GOOD_CWES.length];
  const before = `fn_${i}(a) {\n  sink(a);\n  return ${i};\n}`;
  const after = `fn_${i}(a) {\n  sink(clean(a));\n  return ${i};\n}`;
  const id = fixRecordId(language, cwe, before, after);
  if (i % 2 === 0) {
    // generic: every third one gives the language by file name only
    const rec = i % 3 === 0 ? { cwe: cweRaw, before, after, file_name: `src/m${i}${ext}` } : { language: alias, cwe: cweRaw, before, after };
    return { text: JSON.stringify(rec), id, language, cwe, format: 'generic' };
  }
  const rec = {
    func_name: `fn_${i}`,
    func_src_before: before,
    func_src_after: after,
    vul_type: cweRaw,
    file_name: `lib/f${i}${ext}`,
    line_changes: { deleted: [{ line_no: 2 }], added: [{ line_no: 2 }] },
  };
  return { text: JSON.stringify(rec), id, language, cwe, format: 'sven' };
}

const MAX_LINE_BYTES = 2048;
// Every reject code that a single line can earn (the other two concern whole files).
const LINE_CODES: RejectCode[] = REJECT_CODES.filter((c) => c !== 'unreadable_file' && c !== 'binary_file');

/** A bad line that must be rejected with `code`; `k` varies the content. */
function badLine(code: RejectCode, k: number): Buffer {
  const s = (v: string): Buffer => Buffer.from(v);
  switch (code) {
    case 'invalid_json':
      return s(k % 2 ? `{"cwe":"CWE-79","before":"b${k}"` : `{cwe: ${k}}`);
    case 'forbidden_key':
      return s(k % 2 ? `{"cwe":"CWE-79","before":"b${k}","after":"a","language":"c","__proto__":{"p":1}}` : `{"cwe":"CWE-79","before":"b${k}","after":"a","changed_lines":{"constructor":{}}}`);
    case 'too_deep':
      return s(`{"k":${k},"x":${'['.repeat(50)}${']'.repeat(50)}}`);
    case 'not_an_object':
      return s(k % 2 ? `[${k}]` : `${k}`);
    case 'unknown_format':
      return s(`{"id":${k},"code":"x"}`);
    case 'missing_field':
      return s(k % 2 ? `{"language":"c","before":"b${k}","after":"a"}` : `{"func_src_before":"b${k}","func_src_after":"a","file_name":"a.c"}`);
    case 'wrong_type':
      return s(`{"language":"c","cwe":"CWE-79","before":${k},"after":"a"}`);
    case 'empty_code':
      return s(`{"language":"c","cwe":"CWE-79","before":"  ","after":"a${k}"}`);
    case 'identical_before_after':
      return s(`{"language":"c","cwe":"CWE-79","before":"same ${k}\\r\\n","after":"same ${k}\\n"}`);
    case 'unknown_language':
      return s(k % 2 ? `{"language":"cobol","cwe":"CWE-79","before":"b${k}","after":"a"}` : `{"func_src_before":"b${k}","func_src_after":"a","vul_type":"cwe-079","file_name":"x${k}.weird"}`);
    case 'malformed_cwe':
      return s(`{"language":"c","cwe":"CWE-x${k}","before":"b${k}","after":"a"}`);
    case 'line_too_long':
      return s(JSON.stringify({ language: 'c', cwe: 'CWE-79', before: `b${k}${'x'.repeat(MAX_LINE_BYTES)}`, after: 'a' }));
    case 'invalid_utf8':
      // A lone 0xff, an overlong "/" or an encoded surrogate inside an otherwise valid line.
      return Buffer.concat([s(`{"language":"c","cwe":"CWE-79","before":"b${k}`), Buffer.from([[0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80]][k % 3]), s('","after":"a"}')]);
    default:
      throw new Error(`no bad line for ${code}`);
  }
}

function tally(report: IngestReport): number {
  return report.kept + report.duplicates + report.rejected;
}

async function ingest(store: RecordStore, sources: string[], batchSize?: number): Promise<{ report: IngestReport; rejects: Reject[]; filesDone: string[] }> {
  const rejects: Reject[] = [];
  const filesDone: string[] = [];
  const report = await new FixPairIngestor(store).ingest(
    sources,
    { format: 'auto', maxLineBytes: MAX_LINE_BYTES, batchSize },
    {
      onReject: (r) => rejects.push(r),
      onFileDone: (f) => filesDone.push(f),
    },
  );
  return { report, rejects, filesDone };
}

async function storedIds(store: RecordStore): Promise<Set<string>> {
  const ids = new Set<string>();
  for await (const id of store.ids()) ids.add(id);
  return ids;
}

describe('FixPairIngestor', () => {
  it('keeps every good line among 1,000 bad ones and rejects each bad one at its exact line with its code', async () => {
    const dir = dirs.make('ingest-big');
    const rand = seededRandom(7);
    const GOOD = 1500;
    const BAD = 1000;
    // Shuffle the order of good and bad lines deterministically.
    const kinds: Array<'good' | 'bad'> = [...Array<'good'>(GOOD).fill('good'), ...Array<'bad'>(BAD).fill('bad')];
    for (let i = kinds.length - 1; i > 0; i -= 1) {
      const j = Math.floor(rand() * (i + 1));
      [kinds[i], kinds[j]] = [kinds[j], kinds[i]];
    }
    const chunks: Buffer[] = [];
    const goods = new Map<string, Good & { line: number }>();
    const expectedRejects = new Map<number, RejectCode>();
    const expectedByCode: Partial<Record<RejectCode, number>> = {};
    let lineNo = 0;
    let g = 0;
    let b = 0;
    for (const kind of kinds) {
      // Some blank lines (counted, never read) and some CRLF endings along the way.
      if (rand() < 0.03) {
        lineNo += 1;
        chunks.push(Buffer.from(rand() < 0.5 ? '\n' : '   \r\n'));
      }
      lineNo += 1;
      const eol = Buffer.from(rand() < 0.2 ? '\r\n' : '\n');
      if (kind === 'good') {
        const good = goodLine(g);
        g += 1;
        goods.set(good.id, { ...good, line: lineNo });
        chunks.push(Buffer.from(good.text), eol);
      } else {
        const code = LINE_CODES[b % LINE_CODES.length];
        chunks.push(badLine(code, b), eol);
        b += 1;
        expectedRejects.set(lineNo, code);
        expectedByCode[code] = (expectedByCode[code] ?? 0) + 1;
      }
    }
    expect(goods.size).toBe(GOOD); // the generated good lines really are distinct
    const file = join(dir, 'mixed.jsonl');
    writeFileSync(file, Buffer.concat(chunks));

    const store = new FsRecordStore(join(dir, 'records'));
    const { report, rejects } = await ingest(store, [file], 100);

    expect(report.files).toBe(1);
    expect(report.linesRead).toBe(GOOD + BAD);
    expect(report.kept).toBe(GOOD);
    expect(report.duplicates).toBe(0);
    expect(report.rejected).toBe(BAD);
    expect(report.newInStore).toBe(GOOD);
    expect(tally(report)).toBe(report.linesRead);
    expect(report.rejectedByReason).toEqual(expectedByCode);
    expect(Object.keys(report.rejectedByReason).sort()).toEqual([...LINE_CODES].sort());
    const goodList = [...goods.values()];
    expect(report.byFormat).toEqual({ generic: goodList.filter((x) => x.format === 'generic').length, sven: goodList.filter((x) => x.format === 'sven').length });
    const langCounts: Record<string, number> = {};
    for (const x of goodList) langCounts[x.language] = (langCounts[x.language] ?? 0) + 1;
    expect(report.byLanguage).toEqual(langCounts);

    // Every reject: this file, the exact line the bad line was written at, the expected code.
    expect(rejects).toHaveLength(BAD);
    const got = new Map(rejects.map((r) => [r.line, r.code]));
    expect(got.size).toBe(BAD);
    expect(rejects.every((r) => r.file === file)).toBe(true);
    const mismatches = [...expectedRejects].filter(([ln, code]) => got.get(ln) !== code).map(([ln, code]) => `line ${ln}: expected ${code}, got ${got.get(ln)}`);
    expect(mismatches).toEqual([]);
    // invalid_utf8 rejects name the byte where the bad bytes start.
    for (const r of rejects.filter((x) => x.code === 'invalid_utf8')) {
      const k = [...expectedRejects.keys()].indexOf(r.line);
      expect(r.message).toContain(`at byte ${Buffer.byteLength(`{"language":"c","cwe":"CWE-79","before":"b${k}`)} `);
    }
    for (const r of rejects.filter((x) => x.code === 'line_too_long')) expect(r.message).toMatch(new RegExp(`over the limit of ${MAX_LINE_BYTES}`));

    // Every good record is in the store, with its origin line, language and CWE.
    expect(await store.count()).toBe(GOOD);
    expect(await storedIds(store)).toEqual(new Set(goods.keys()));
    const sample = goodList.filter((_, i) => i % 50 === 0);
    for (const good of sample) {
      const rec = await store.get(good.id);
      expect(rec).toMatchObject({ id: good.id, language: good.language, cwe: good.cwe, origin: { file, line: good.line, format: good.format } });
    }
  });

  it('counts duplicates within and across files (even across formats) and stores them once; a re-run adds nothing', async () => {
    const dir = dirs.make('ingest-dup');
    const before = 'strcpy(d, s);\n';
    const after = 'strlcpy(d, s, n);\n';
    const a = join(dir, 'a.jsonl');
    const bFile = join(dir, 'b.jsonl');
    writeFileSync(
      a,
      [
        line({ language: 'c', cwe: 'CWE-787', before, after }),
        line({ language: 'c', cwe: 'CWE-120', before, after }), // another CWE: another record
        line({ language: 'python', cwe: 'CWE-78', before: 'os.system(c)', after: 'subprocess.run([c])' }),
        line({ language: 'C', cwe: 'cwe-0787', before, after }), // same content again in this file
      ].join('\n'),
    );
    writeFileSync(
      bFile,
      [
        // The same fix as a.jsonl:1, as SVEN with CRLF code.
        line({ func_src_before: before.replace('\n', '\r\n'), func_src_after: after.replace('\n', '\r\n'), vul_type: 'cwe-787', file_name: 'x.c' }),
        line({ language: 'py', cwe: 78, before: 'os.system(c)', after: 'subprocess.run([c])' }),
        line({ language: 'go', cwe: 'CWE-22', before: 'open(p)', after: 'open(clean(p))' }),
      ].join('\r\n'),
    );
    const store = new FsRecordStore(join(dir, 'records'));
    const first = await ingest(store, [a, bFile]);
    expect(first.rejects).toEqual([]);
    expect(first.report).toMatchObject({ files: 2, linesRead: 7, kept: 4, duplicates: 3, rejected: 0, newInStore: 4 });
    expect(await store.count()).toBe(4);
    expect(await storedIds(store)).toEqual(
      new Set([
        fixRecordId('c', 'CWE-787', before, after),
        fixRecordId('c', 'CWE-120', before, after),
        fixRecordId('python', 'CWE-78', 'os.system(c)', 'subprocess.run([c])'),
        fixRecordId('go', 'CWE-22', 'open(p)', 'open(clean(p))'),
      ]),
    );
    // The first occurrence wins.
    expect((await store.get(fixRecordId('c', 'CWE-787', before, after)))?.origin).toEqual({ file: a, line: 1, format: 'generic' });

    const again = await ingest(store, [a, bFile]);
    expect(again.report).toMatchObject({ files: 2, linesRead: 7, kept: 4, duplicates: 3, rejected: 0, newInStore: 0 });
    expect(await store.count()).toBe(4);
  });

  it('rejects a binary file once (line 0) and still ingests the other files', async () => {
    const dir = dirs.make('ingest-bin');
    const a = join(dir, 'a.jsonl');
    const bin = join(dir, 'b.jsonl');
    const gz = join(dir, 'c.jsonl');
    const d = join(dir, 'd.jsonl');
    writeFileSync(a, `${goodLine(1).text}\n${goodLine(2).text}\n`);
    writeFileSync(bin, Buffer.concat([Buffer.from(`${goodLine(3).text}\n`), Buffer.from([0x00, 0x01, 0x02]), Buffer.from(`\n${goodLine(4).text}\n`)]));
    writeFileSync(gz, Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a]));
    writeFileSync(d, `${goodLine(5).text}\n`);
    const store = new FsRecordStore(join(dir, 'records'));
    const { report, rejects, filesDone } = await ingest(store, [a, bin, gz, d]);
    expect(rejects.map((r) => [r.file, r.line, r.code])).toEqual([
      [bin, 0, 'binary_file'],
      [gz, 0, 'binary_file'],
    ]);
    expect(rejects[0].message).toContain('NUL byte');
    expect(rejects[1].message).toContain('gzip');
    expect(report).toMatchObject({ files: 4, linesRead: 3, kept: 3, rejected: 2, rejectedByReason: { binary_file: 2 } });
    expect(filesDone).toEqual([a, bin, gz, d]);
    expect(await storedIds(store)).toEqual(new Set([goodLine(1).id, goodLine(2).id, goodLine(5).id]));
  });

  it('reports a missing source as unreadable_file and still ingests the others', async () => {
    const dir = dirs.make('ingest-missing');
    const a = join(dir, 'a.jsonl');
    const c = join(dir, 'c.jsonl');
    const missing = join(dir, 'nope', 'b.jsonl');
    writeFileSync(a, `${goodLine(10).text}\n`);
    writeFileSync(c, `${goodLine(11).text}\n`);
    const store = new FsRecordStore(join(dir, 'records'));
    const { report, rejects } = await ingest(store, [a, missing, c]);
    expect(rejects).toHaveLength(1);
    expect(rejects[0]).toMatchObject({ file: missing, line: 0, code: 'unreadable_file' });
    expect(rejects[0].message).toContain('ENOENT');
    expect(report).toMatchObject({ files: 2, kept: 2, rejected: 1, rejectedByReason: { unreadable_file: 1 } });
    expect(await storedIds(store)).toEqual(new Set([goodLine(10).id, goodLine(11).id]));
  });

  it('walks a directory recursively in sorted order, reading only dataset extensions', async () => {
    const dir = dirs.make('ingest-dir');
    const src = join(dir, 'src');
    mkdirSync(join(src, 'sub', 'deeper'), { recursive: true });
    writeFileSync(join(src, 'b.jsonl'), `${goodLine(20).text}\n`);
    writeFileSync(join(src, 'a.ndjson'), `${goodLine(21).text}\n`);
    writeFileSync(join(src, 'sub', 'deeper', 'c.json'), `${goodLine(22).text}\n`);
    writeFileSync(join(src, 'notes.txt'), 'not json at all\n');
    writeFileSync(join(src, 'data.jsonl.bak'), 'not json either\n');
    const store = new FsRecordStore(join(dir, 'records'));
    const { report, rejects, filesDone } = await ingest(store, [src, join(src, 'b.jsonl')]);
    expect(rejects).toEqual([]);
    expect(filesDone).toEqual([join(src, 'a.ndjson'), join(src, 'b.jsonl'), join(src, 'sub', 'deeper', 'c.json')]);
    expect(report).toMatchObject({ files: 3, kept: 3, rejected: 0 });
  });

  it('stops the run with RecordStoreError when the store fails, rather than turning it into a reject', async () => {
    const dir = dirs.make('ingest-storefail');
    const a = join(dir, 'a.jsonl');
    writeFileSync(a, `${goodLine(30).text}\n${goodLine(31).text}\n`);
    const failing = storeThatPuts(async () => {
      throw new Error('disk full');
    });
    const rejects: Reject[] = [];
    await expect(new FixPairIngestor(failing).ingest([a], { format: 'auto', maxLineBytes: MAX_LINE_BYTES, batchSize: 1 }, { onReject: (r) => rejects.push(r) })).rejects.toBeInstanceOf(
      RecordStoreError,
    );
    expect(rejects).toEqual([]);
  });

  it('keeps a few puts outstanding while it reads on, waits for all of them before it returns, and fails with the first that fails', async () => {
    const dir = dirs.make('ingest-outstanding');
    const a = join(dir, 'a.jsonl');
    writeFileSync(a, `${Array.from({ length: 12 }, (_, i) => goodLine(40 + i).text).join('\n')}\n`);
    let outstanding = 0;
    let most = 0;
    const stored = new Set<string>();
    const slow = (failOn?: number): RecordStore => {
      let calls = 0;
      return storeThatPuts(async (records) => {
        calls += 1;
        const call = calls;
        outstanding += 1;
        most = Math.max(most, outstanding);
        await new Promise((r) => setTimeout(r, 15));
        outstanding -= 1;
        if (call === failOn) throw new Error('disk full');
        records.forEach((r) => stored.add(r.id));
        return { added: records.length, existing: 0 };
      });
    };
    const report = await new FixPairIngestor(slow()).ingest([a], { format: 'auto', maxLineBytes: MAX_LINE_BYTES, batchSize: 2 });
    expect(report).toMatchObject({ kept: 12, newInStore: 12 });
    expect(stored.size).toBe(12);
    expect(outstanding).toBe(0);
    expect(most).toBeGreaterThan(1);
    expect(most).toBeLessThanOrEqual(3);
    most = 0;
    await expect(new FixPairIngestor(slow(2)).ingest([a], { format: 'auto', maxLineBytes: MAX_LINE_BYTES, batchSize: 2 })).rejects.toThrow(/writing 2 records to the record store failed: disk full/);
  });
});
