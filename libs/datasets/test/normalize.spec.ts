import { diffChangedLines, fixRecordId, normalizeGenericRecord, normalizeLineEndings, normalizeSvenRecord } from '@rescue/datasets';
import { type FixRecord, cweNumber, isLanguage, languageFromFileName, normalizeLanguageName, parseCweId } from '@rescue/domain';

const origin = { file: 'mem.jsonl', line: 1, format: 'generic' as const };

function generic(fields: Record<string, unknown>): FixRecord {
  const r = normalizeGenericRecord({ cwe: 'CWE-79', before: 'a\nb\n', after: 'a\nc\n', language: 'c', ...fields } as never, origin);
  if (!r.ok) throw new Error(`expected a record, got ${r.problem.code} on ${r.problem.field}`);
  return r.record;
}

describe('parseCweId (domain)', () => {
  it.each<[unknown, string]>([
    ['cwe-089', 'CWE-89'],
    ['CWE-89', 'CWE-89'],
    ['89', 'CWE-89'],
    [89, 'CWE-89'],
    ['CWE_79', 'CWE-79'],
    [' cwe 22 ', 'CWE-22'],
    ['Cwe-0022', 'CWE-22'],
    ['CWE-1000', 'CWE-1000'],
    [943, 'CWE-943'],
  ])('%p → %s', (input, expected) => {
    expect(parseCweId(input)).toBe(expected);
  });

  it.each<[unknown]>([['foo'], ['CWE-'], ['0'], ['CWE-0'], [1.5], [null], [undefined], [0], [-89], [''], ['CWE-89x'], ['CWE-1234567'], [1_000_000], [NaN], [{}]])('rejects %p', (input) => {
    expect(parseCweId(input)).toBeUndefined();
  });

  it('cweNumber reads the number back', () => {
    expect(cweNumber(parseCweId('cwe-0416')!)).toBe(416);
  });
});

describe('languageFromFileName and normalizeLanguageName (domain)', () => {
  it.each<[string, string | undefined]>([
    ['lib/foo.C', 'cpp'],
    ['foo.H', 'cpp'],
    ['src/foo.c', 'c'],
    ['foo.cc', 'cpp'],
    ['include/foo.h', 'c'],
    ['web/App.jsx', 'javascript'],
    ['app/models/user.rb', 'ruby'],
    ['x/y.PY', 'python'],
    ['C:\\src\\main.go', 'go'],
    ['archive.tar.gz', undefined],
    ['notes.unknownext', undefined],
    ['Makefile', undefined],
    ['trailingdot.', undefined],
    ['', undefined],
  ])('%p → %p', (name, expected) => {
    expect(languageFromFileName(name)).toBe(expected);
  });

  it('maps user spellings to canonical languages', () => {
    expect(normalizeLanguageName('C++')).toBe('cpp');
    expect(normalizeLanguageName(' Python ')).toBe('python');
    expect(normalizeLanguageName('golang')).toBe('go');
    expect(normalizeLanguageName('C#')).toBe('csharp');
    expect(normalizeLanguageName('cobol')).toBeUndefined();
    expect(isLanguage('cpp')).toBe(true);
    expect(isLanguage('C++')).toBe(false);
  });
});

describe('diffChangedLines', () => {
  it('finds a replaced line and an inserted line with 1-based numbers on each side', () => {
    const before = ['int f(int n) {', '  char b[8];', '  strcpy(b, s);', '  return n;', '}'].join('\n');
    const after = ['int f(int n) {', '  char b[8];', '  if (strlen(s) >= 8) return -1;', '  strncpy(b, s, 7);', '  return n;', '}'].join('\n');
    expect(diffChangedLines(before, after)).toEqual({ deleted: [3], added: [3, 4], source: 'diff' });
  });

  it('handles pure deletions, pure insertions and several hunks', () => {
    expect(diffChangedLines('a\nb\nc\nd\n', 'a\nd\n')).toEqual({ deleted: [2, 3], added: [], source: 'diff' });
    expect(diffChangedLines('a\nd\n', 'x\na\nb\nd\n')).toEqual({ deleted: [], added: [1, 3], source: 'diff' });
    expect(diffChangedLines('1\n2\n3\n4\n5\n6\n', '1\nTWO\n3\n4\nFIVE\n6\n')).toEqual({ deleted: [2, 5], added: [2, 5], source: 'diff' });
  });

  it('is consistent: the unchanged lines of both sides are equal, in order', () => {
    const before = 'def f(x):\n    q = "SELECT * FROM t WHERE id=" + x\n    cur.execute(q)\n    return cur.fetchall()\n';
    const after = 'def f(x):\n    q = "SELECT * FROM t WHERE id=%s"\n    cur.execute(q, (x,))\n    return cur.fetchall()\n';
    const { deleted, added } = diffChangedLines(before, after);
    expect(deleted).toEqual([2, 3]);
    expect(added).toEqual([2, 3]);
    const keptBefore = before.split('\n').filter((_, i) => !deleted.includes(i + 1));
    const keptAfter = after.split('\n').filter((_, i) => !added.includes(i + 1));
    expect(keptBefore).toEqual(keptAfter);
  });

  it('does not mark an unchanged last line as changed when lines are appended after it', () => {
    expect(diffChangedLines('x = 1\ny = 2', 'x = 1\ny = 2\nz = 3')).toEqual({ deleted: [], added: [3], source: 'diff' });
  });
});

describe('record normalization and ids', () => {
  it('normalizes \\r\\n and lone \\r to \\n', () => {
    expect(normalizeLineEndings('a\r\nb\rc\n')).toBe('a\nb\nc\n');
    expect(normalizeLineEndings('plain\n')).toBe('plain\n');
  });

  it('gives a CRLF record the same id and content as its LF twin', () => {
    const lf = generic({ before: 'if (x)\n  y();\n', after: 'if (x && z)\n  y();\n' });
    const crlf = generic({ before: 'if (x)\r\n  y();\r\n', after: 'if (x && z)\r\n  y();\r\n' });
    expect(crlf.id).toBe(lf.id);
    expect(crlf.before).toBe(lf.before);
    expect(crlf.after).toBe(lf.after);
    expect(crlf.before).not.toContain('\r');
    expect(crlf.changedLines).toEqual(lf.changedLines);
  });

  it('fixRecordId is 32 hex digits, deterministic, and depends on every part', () => {
    const id = fixRecordId('c', 'CWE-79', 'before', 'after');
    expect(id).toMatch(/^[0-9a-f]{32}$/);
    expect(fixRecordId('c', 'CWE-79', 'before', 'after')).toBe(id);
    expect(fixRecordId('c', 'CWE-89', 'before', 'after')).not.toBe(id);
    expect(fixRecordId('cpp', 'CWE-79', 'before', 'after')).not.toBe(id);
    expect(fixRecordId('c', 'CWE-79', 'before!', 'after')).not.toBe(id);
    expect(fixRecordId('c', 'CWE-79', 'before', 'after!')).not.toBe(id);
    // Parts are length-prefixed, so moving text between before and after changes the id.
    expect(fixRecordId('c', 'CWE-79', 'ab', 'c')).not.toBe(fixRecordId('c', 'CWE-79', 'a', 'bc'));
  });

  it('a record id differs when only the CWE differs, and equals fixRecordId of the normalized parts', () => {
    const a = generic({ cwe: 'cwe-079' });
    const b = generic({ cwe: 89 });
    expect(a.cwe).toBe('CWE-79');
    expect(b.cwe).toBe('CWE-89');
    expect(a.id).not.toBe(b.id);
    expect(a.id).toBe(fixRecordId('c', 'CWE-79', 'a\nb\n', 'a\nc\n'));
  });

  it('keeps dataset changed lines (sorted, unique) when they fit, and diffs when they do not', () => {
    const before = 'l1\nl2\nl3\nl4';
    const after = 'l1\nL2\nl3\nl4';
    expect(generic({ before, after, changed_lines: { deleted: [3, 2, 2], added: [2] } }).changedLines).toEqual({ deleted: [2, 3], added: [2], source: 'dataset' });
    expect(generic({ before, after, changed_lines: { deleted: [99], added: [2] } }).changedLines).toEqual({ deleted: [2], added: [2], source: 'diff' });
    expect(generic({ before, after, changed_lines: { deleted: [], added: [] } }).changedLines).toEqual({ deleted: [2], added: [2], source: 'diff' });
  });

  it('maps SVEN fields, prefixes a scheme-less commit link and trims the text fields', () => {
    const r = normalizeSvenRecord(
      {
        func_name: ' get_user ',
        func_src_before: 'def get_user(i):\r\n    return db.q("x" + i)\r\n',
        func_src_after: 'def get_user(i):\r\n    return db.q("x", i)\r\n',
        vul_type: 'cwe-089',
        file_name: 'app/db.py',
        commit_link: 'github.com/example/app/commit/abc123',
        description: '  Fetch a user.\r\n',
        commit_msg: 'fix sqli',
        line_changes: { deleted: [{ line_no: 2 }], added: [{ line_no: 2 }] },
      },
      { file: 'x.jsonl', line: 7, format: 'safecoder' },
    );
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.record).toMatchObject({
      language: 'python',
      cwe: 'CWE-89',
      functionName: 'get_user',
      filePath: 'app/db.py',
      description: 'Fetch a user.',
      commitMessage: 'fix sqli',
      sourceUrl: 'https://github.com/example/app/commit/abc123',
      changedLines: { deleted: [2], added: [2], source: 'dataset' },
      origin: { file: 'x.jsonl', line: 7, format: 'safecoder' },
    });
    const withScheme = normalizeSvenRecord(
      { func_src_before: 'a', func_src_after: 'b', vul_type: 79, file_name: 'a.js', commit_link: 'http://example.org/c/1' },
      { file: 'x.jsonl', line: 8, format: 'sven' },
    );
    expect(withScheme.ok && withScheme.record.sourceUrl).toBe('http://example.org/c/1');
  });
});
