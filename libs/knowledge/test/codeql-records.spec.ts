/**
 * codeqlFixPairs on small hand-made queries, on our CodeQL-shaped fixture
 * (libs/datasets/test/fixtures/codeql) and, when present, on the real CodeQL help in
 * ../shared/data/codeql-help (read in place, never copied).
 */
import { resolve } from 'node:path';
import { type CodeqlProblem, type CodeqlQueryHelp, type CodeqlSample, readCodeqlHelp } from '@rescue/datasets';
import { Slicer } from '@rescue/slicing';
import { type CodeqlFixPairs, codeqlFixPairs } from '../src/sources/codeql-records';

const FIXTURE = resolve(__dirname, '../../datasets/test/fixtures/codeql');

const src = (...lines: string[]): string => `${lines.join('\n')}\n`;

/** A query as readCodeqlHelp returns it, with only what pairing looks at filled in. */
function query(helpPath: string, samples: CodeqlSample[], over: Partial<CodeqlQueryHelp> = {}): CodeqlQueryHelp {
  return {
    queryId: `test/${helpPath}`,
    name: 'Test query',
    description: 'Says what is wrong.',
    cwes: ['CWE-89'],
    language: 'python',
    overview: '',
    recommendation: '',
    exampleProse: '',
    samples,
    helpPath: `q/${helpPath}.qhelp`,
    ...over,
  };
}

const sample = (path: string, code: string, language: CodeqlSample['language'] = 'python'): CodeqlSample => ({ path: `q/${path}`, language, code });

describe('codeqlFixPairs', () => {
  let slicer: Slicer;

  beforeAll(async () => {
    slicer = await Slicer.create();
  });

  describe('separate files', () => {
    it('pairs each bad file with the good file sharing most of its name', async () => {
      const out = await codeqlFixPairs(
        query('Serialize', [
          sample('unsafe_load.py', 'yaml.load(data)\n'),
          sample('unsafe_dump.py', 'pickle.dumps(obj)\n'),
          sample('safe_dump.py', 'json.dumps(obj)\n'),
          sample('safe_load.py', 'yaml.safe_load(data)\n'),
        ]),
        slicer,
      );
      expect(out.records.map((r) => [r.filePath, r.after])).toEqual([
        ['q/unsafe_load.py', 'yaml.safe_load(data)\n'],
        ['q/unsafe_dump.py', 'json.dumps(obj)\n'],
      ]);
      expect(out.provenance.map((p) => [p.pairing, p.afterPath])).toEqual([
        ['files', 'q/safe_load.py'],
        ['files', 'q/safe_dump.py'],
      ]);
    });

    it('gives two bad files the one good file, and reads `X` beside `XGood` as the bad one', async () => {
      const out = await codeqlFixPairs(
        [
          query('UrlCheck', [sample('UrlCheck_BAD1.js', 'a(1);\n', 'javascript'), sample('UrlCheck_BAD2.js', 'a(2);\n', 'javascript'), sample('UrlCheck_GOOD.js', 'b();\n', 'javascript')]),
          query('Echo', [sample('Echo.js', 'send(x);\n', 'javascript'), sample('EchoGood.js', 'send(esc(x));\n', 'javascript')]),
        ],
        slicer,
      );
      expect(out.records.map((r) => [r.before, r.after])).toEqual([
        ['a(1);\n', 'b();\n'],
        ['a(2);\n', 'b();\n'],
        ['send(x);\n', 'send(esc(x));\n'],
      ]);
    });

    it('does not read the query’s own name as a side (`BrokenHash.py` is bad by its marker, not its name)', async () => {
      const out = await codeqlFixPairs(query('BrokenHash', [sample('BrokenHashFixed.py', 'sha256(x)\n'), sample('BrokenHash.py', 'md5(x)  # BAD\n')]), slicer);
      expect(out.records.map((r) => [r.before, r.after])).toEqual([['md5(x)  # BAD\n', 'sha256(x)\n']]);
    });

    it('makes a bad file without a good one a vulnerable-only example, and so a lone unmarked sample', async () => {
      const out = await codeqlFixPairs([query('OnlyBad', [sample('leak_bad.py', 'print(password)\n')]), query('Lone', [sample('lone.py', 'eval(x)\n')])], slicer);
      expect(out.records).toEqual([]);
      expect(out.vulnerableOnly.map((v) => [v.filePath, v.cwe, v.language])).toEqual([
        ['q/leak_bad.py', 'CWE-89', 'python'],
        ['q/lone.py', 'CWE-89', 'python'],
      ]);
      expect(out.vulnerableOnly[0].id).toMatch(/^[0-9a-f]{32}$/);
    });

    it('leaves out an unmarked sample beside others, whose side it cannot tell', async () => {
      const out = await codeqlFixPairs(query('Two', [sample('first.py', 'a()\n'), sample('second.py', 'b()\n')]), slicer);
      expect(out).toEqual({ records: [], vulnerableOnly: [], provenance: [], problems: [] });
    });

    it('reports samples in no known language and identical sides', async () => {
      const out = await codeqlFixPairs(query('Config', [{ path: 'q/Web.config.bad', code: '<x/>' }, sample('same_bad.py', 'x = 1\n'), sample('same_good.py', 'x = 1\n')]), slicer);
      expect(out.records).toEqual([]);
      expect(out.problems.map((p) => [p.kind, p.file])).toEqual([
        ['unknown-language', 'q/Web.config.bad'],
        ['identical_before_after', 'q/same_bad.py'],
      ]);
    });
  });

  describe('one file with both markers', () => {
    it('pairs marked functions by name, then position; unmarked helpers stay out', async () => {
      const code = src(
        '# BAD',
        'def read_user(name):',
        '    return db.execute("SELECT * FROM u WHERE n = \'%s\'" % name)',
        '',
        'def helper():',
        '    return 1',
        '',
        '# GOOD',
        'def read_user_fixed(name):',
        '    return db.execute("SELECT * FROM u WHERE n = ?", (name,))',
      );
      const out = await codeqlFixPairs(query('Sql', [sample('sql.py', code)]), slicer);
      expect(out.records).toHaveLength(1);
      expect(out.records[0]).toMatchObject({ functionName: 'read_user', origin: { file: 'q/sql.py', line: 2, format: 'codeql' } });
      expect(out.records[0].before.startsWith('def read_user(name):')).toBe(true);
      expect(out.records[0].after.startsWith('def read_user_fixed(name):')).toBe(true);
      expect(out.provenance[0].pairing).toBe('functions');
    });

    it('splits a function holding both markers into its marked regions', async () => {
      const code = src(
        'def show(request, cursor):',
        '    name = request.args["name"]',
        '',
        '    # BAD: formats the name into the query',
        '    cursor.execute("SELECT * FROM u WHERE n = \'%s\'" % name)',
        '',
        '    # GOOD: binds it',
        '    cursor.execute("SELECT * FROM u WHERE n = %s", (name,))',
        '    return cursor.fetchone()',
      );
      const out = await codeqlFixPairs(query('Regions', [sample('regions.py', code)]), slicer);
      expect(out.provenance.map((p) => p.pairing)).toEqual(['regions']);
      const [record] = out.records;
      expect(record.before).toBe(
        src('def show(request, cursor):', '    name = request.args["name"]', '', '    # BAD: formats the name into the query', '    cursor.execute("SELECT * FROM u WHERE n = \'%s\'" % name)'),
      );
      expect(record.after).toBe(
        src('def show(request, cursor):', '    name = request.args["name"]', '', '    # GOOD: binds it', '    cursor.execute("SELECT * FROM u WHERE n = %s", (name,))', '    return cursor.fetchone()'),
      );
      expect(record.changedLines.deleted).toEqual([4, 5]);
    });

    it('splits a snippet file by its trailing markers, each line’s paragraph a region, in a language without a grammar too', async () => {
      const code = src('var key = Load();', '', 'var des = DES.Create();', 'des.Key = key; // BAD: a broken cipher', '', 'var aes = Aes.Create();', 'aes.Key = key; // GOOD: a strong one');
      const out = await codeqlFixPairs(query('Cipher', [sample('Cipher.cs', code, 'csharp')], { language: 'csharp' }), slicer);
      expect(out.records.map((r) => [r.language, r.before, r.after])).toEqual([
        [
          'csharp',
          src('var key = Load();', '', 'var des = DES.Create();', 'des.Key = key; // BAD: a broken cipher'),
          src('var key = Load();', '', 'var aes = Aes.Create();', 'aes.Key = key; // GOOD: a strong one'),
        ],
      ]);
    });

    it('splits an unmarked file when its functions’ names tell both sides', async () => {
      const code = src('def unsafe_render(name):', '    return Template(name).render()', '', 'def safe_render(name):', '    return escape(name)');
      const out = await codeqlFixPairs(query('Render', [sample('render.py', code)]), slicer);
      expect(out.records.map((r) => r.functionName)).toEqual(['unsafe_render']);
      expect(out.records[0].after).toBe('def safe_render(name):\n    return escape(name)\n');
    });

    it('reports a file it cannot split and goes on with the other queries', async () => {
      const failing = { functions: async (): Promise<never> => Promise.reject(new Error('parse budget spent')) };
      const mixed = sample('both.py', src('# BAD', 'def a(): pass', '# GOOD', 'def b(): pass'));
      const out = await codeqlFixPairs([query('Fails', [mixed]), query('Fine', [sample('f_bad.py', 'x()\n'), sample('f_good.py', 'y()\n')])], failing);
      expect(out.problems).toEqual([{ file: 'q/both.py', kind: 'split-failed', message: 'cannot split into functions: parse budget spent' }]);
      expect(out.records).toHaveLength(1);
    });
  });

  it('files a record under the query’s first CWE, keeping the others, and merges a pair two queries share', async () => {
    const pair = [sample('x_bad.py', 'a()\n'), sample('x_good.py', 'b()\n')];
    const out = await codeqlFixPairs([query('One', pair, { cwes: ['CWE-78', 'CWE-88'], name: 'Shell', description: 'Bad shell.' }), query('Two', pair, { cwes: ['CWE-78', 'CWE-77'] })], slicer);
    expect(out.records).toHaveLength(1);
    expect(out.records[0]).toMatchObject({ cwe: 'CWE-78', description: 'Shell: Bad shell.', sourceUrl: 'q/x_bad.py', filePath: 'q/x_bad.py' });
    expect(out.records[0].commitMessage).toBeUndefined();
    expect(out.provenance[0]).toMatchObject({ queryIds: ['test/One', 'test/Two'], cwes: ['CWE-78', 'CWE-88', 'CWE-77'] });
  });
});

describe('codeqlFixPairs on the fixture', () => {
  let first: CodeqlFixPairs;

  beforeAll(async () => {
    const slicer = await Slicer.create();
    const problems: CodeqlProblem[] = [];
    first = await codeqlFixPairs(await readCodeqlHelp(FIXTURE, (p) => problems.push(p)), slicer);
  });

  it('finds the three file pairs and the function pair, in query order', () => {
    expect(first.records.map((r) => [r.language, r.cwe, r.origin.file.split('/').pop(), r.origin.line, r.functionName])).toEqual([
      ['go', 'CWE-643', 'XPathBuildBad.go', 1, undefined],
      ['javascript', 'CWE-79', 'HtmlEcho.js', 1, undefined],
      ['python', 'CWE-78', 'shell_run_bad.py', 1, undefined],
      ['python', 'CWE-89', 'query_build.py', 7, 'find_customer_unsafe'],
    ]);
    expect(first.records.every((r) => r.origin.format === 'codeql' && r.changedLines.source === 'diff')).toBe(true);
    expect(first.provenance.filter((p) => p.kind === 'record').map((p) => p.pairing)).toEqual(['files', 'files', 'files', 'functions']);
    expect(first.records[2].description).toBe('Shell command built from request data: Passing request data to a shell lets a caller run commands of their choosing.');
  });

  it('keeps the bad-only TypeScript sample and the lone archive sample as vulnerable-only examples', () => {
    expect(first.vulnerableOnly.map((v) => [v.language, v.cwe, v.filePath.split('/').pop()])).toEqual([
      ['typescript', 'CWE-79', 'HtmlEchoTyped.ts'],
      ['python', 'CWE-22', 'archive_entry.py'],
    ]);
    expect(first.problems).toEqual([]);
  });

  it('gives the same records and ids on every run', async () => {
    const again = await codeqlFixPairs(await readCodeqlHelp(FIXTURE), await Slicer.create());
    expect(again).toEqual(first);
  });
});
