/**
 * readCodeqlHelp on our own CodeQL-shaped fixture (fixtures/codeql, written for these tests), on
 * hostile trees built in temp dirs, and on the real CodeQL help in ../shared/data/codeql-help
 * (read in place, never copied) when that folder is present.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type CodeqlProblem, type CodeqlQueryHelp, MAX_CODEQL_SAMPLE_BYTES, codeqlLanguageFromPath, cwesFromTags, parseQlMetadata, readCodeqlHelp } from '@rescue/datasets';
import { InvalidInputError } from '@rescue/domain';
import { TempDirs } from './helpers';

const FIXTURE = resolve(__dirname, 'fixtures/codeql');

async function read(root: string): Promise<{ queries: CodeqlQueryHelp[]; problems: CodeqlProblem[] }> {
  const problems: CodeqlProblem[] = [];
  const queries = await readCodeqlHelp(root, (p) => problems.push(p));
  return { queries, problems };
}

const byId = (queries: CodeqlQueryHelp[], id: string): CodeqlQueryHelp => {
  const q = queries.find((x) => x.queryId === id);
  if (!q) throw new Error(`no query ${id} among ${queries.map((x) => x.queryId).join(', ')}`);
  return q;
};

describe('parseQlMetadata', () => {
  it('reads the header fields, joining continuation lines', () => {
    const meta = parseQlMetadata(
      [
        '/**',
        ' * @name Some query',
        ' * @description First line',
        ' *              and second.',
        ' * @id py/some',
        ' * @security-severity 7.8',
        ' * @precision high',
        ' * @tags security',
        ' *       external/cwe/cwe-079',
        ' */',
        'import python',
      ].join('\n'),
    );
    expect(meta).toEqual({ name: 'Some query', description: 'First line and second.', id: 'py/some', securitySeverity: 7.8, precision: 'high', tags: ['security', 'external/cwe/cwe-079'] });
  });

  it('leaves out what a file lacks (no header, a non-numeric severity)', () => {
    expect(parseQlMetadata('import python')).toEqual({ tags: [] });
    expect(parseQlMetadata('/** @security-severity high */').securitySeverity).toBeUndefined();
  });

  it('takes CWE ids from the external/cwe tags only, in order, each once', () => {
    expect(cwesFromTags(['security', 'external/cwe/cwe-089', 'external/cwe/cwe-564', 'external/cwe/cwe-089', 'cwe-22'])).toEqual(['CWE-89', 'CWE-564']);
  });
});

describe('codeqlLanguageFromPath', () => {
  it.each([
    ['/src/codeql/javascript/ql/src/Security/CWE-079/Xss.qhelp', 'javascript'],
    ['/x/ql/cpp/ql/src/Security/CWE/CWE-120/A.qhelp', 'cpp'],
    ['/x/codeql-go/ql/src/Security/CWE-022/A.qhelp', 'go'],
    ['/x/python/Security/A.qhelp', 'python'],
    ['/x/misc/A.qhelp', undefined],
  ])('%s → %s', (path, language) => {
    expect(codeqlLanguageFromPath(path)).toBe(language);
  });
});

describe('readCodeqlHelp on the fixture', () => {
  let queries: CodeqlQueryHelp[];
  let problems: CodeqlProblem[];

  beforeAll(async () => {
    ({ queries, problems } = await read(FIXTURE));
  });

  it('keeps the CWE-tagged queries in path order, skipping the malformed one and, silently, the untagged one', () => {
    expect(queries.map((q) => q.helpPath)).toEqual([
      'codeql-go/ql/src/Security/CWE-643/XPathBuild.qhelp',
      'ql/javascript/ql/src/Security/CWE-079/HtmlEcho.qhelp',
      'ql/python/ql/src/Security/CWE-022/ArchiveEntry.qhelp',
      'ql/python/ql/src/Security/CWE-078/ShellRun.qhelp',
      'ql/python/ql/src/Security/CWE-089/QueryBuild.qhelp',
    ]);
    expect(problems.some((p) => p.file.includes('Semicolons'))).toBe(false);
  });

  it('reads metadata from the .ql and prose from the help, includes spliced in', () => {
    const q = byId(queries, 'py/fixture-shell-run');
    expect(q).toMatchObject({
      name: 'Shell command built from request data',
      description: 'Passing request data to a shell lets a caller run commands of their choosing.',
      cwes: ['CWE-78', 'CWE-88'],
      language: 'python',
      severity: 9.1,
      precision: 'high',
      recommendation: 'Pass an argument list to subprocess.run and keep the shell out of it.',
      exampleProse: 'This handler pastes the file name into a command line:\nThis one passes it as a separate argument:',
      references: ['Fixture notes: Why shells split words.', 'Fixture notes: Argument vectors.'],
    });
    // Inline markup dropped, whitespace (a &nbsp; too) collapsed, one paragraph or list item a line.
    expect(q.overview).toBe('Handing a string from an HTTP request to os.system lets the caller append their own commands with ;.\nThe shell reads every metacharacter.\nQuoting by hand misses some.');
    expect(q.samples.map((s) => [s.path, s.language])).toEqual([
      ['ql/python/ql/src/Security/CWE-078/examples/shell_run_bad.py', 'python'],
      ['ql/python/ql/src/Security/CWE-078/examples/shell_run_good.py', 'python'],
    ]);
    expect(q.samples[0].code).toContain('os.system("ls -l " + folder)');
  });

  it('gives each sample its own language (a TypeScript sample in a JavaScript query)', () => {
    const q = byId(queries, 'js/fixture-html-echo');
    expect(q.language).toBe('javascript');
    expect(q.samples.map((s) => s.language)).toEqual(['javascript', 'javascript', 'typescript']);
  });

  it('keeps a help file without its .ql under its folder’s CWE, with a Go language from codeql-go', () => {
    const q = queries[0];
    expect(q).toMatchObject({ queryId: 'codeql-go/ql/src/Security/CWE-643/XPathBuild', name: 'XPathBuild', description: '', cwes: ['CWE-643'], language: 'go' });
    expect(q.severity).toBeUndefined();
    expect(q.samples.map((s) => s.path.split('/').pop())).toEqual(['XPathBuildBad.go', 'XPathBuildGood.go']);
    // The looping fragment is read once; its own include is refused.
    expect(q.overview).toBe('An XPath expression pasted together from user input can select other nodes.\nFragments may include fragments.');
  });

  it('keeps a query whose help cites a missing sample, without that sample', () => {
    const q = byId(queries, 'py/fixture-archive-entry');
    expect(q.samples.map((s) => s.path.split('/').pop())).toEqual(['archive_entry.py']);
  });

  it('reports every problem with its file, and a line where it has one', () => {
    expect(problems.map(({ file, line, kind }) => ({ file, line, kind }))).toEqual([
      { file: 'codeql-go/ql/src/Security/CWE-643/XPathBuild.qhelp', line: undefined, kind: 'missing-query' },
      { file: 'codeql-go/ql/src/Security/CWE-643/Loop.inc.qhelp', line: 5, kind: 'include-cycle' },
      { file: 'codeql-go/ql/src/Security/CWE-643/XPathBuild.qhelp', line: 8, kind: 'missing-include' },
      { file: 'ql/javascript/ql/src/Security/CWE-601/Redirect.qhelp', line: 5, kind: 'malformed-xml' },
      { file: 'ql/python/ql/src/Security/CWE-022/ArchiveEntry.qhelp', line: 9, kind: 'missing-sample' },
    ]);
    expect(problems[0].message).toMatch(/kept under CWE-643/);
    expect(problems[4].message).toMatch(/archive_entry_fixed\.py/);
  });

  it('reads the same way twice', async () => {
    expect((await read(FIXTURE)).queries).toEqual(queries);
  });
});

describe('readCodeqlHelp on hostile trees', () => {
  const dirs = new TempDirs();
  afterAll(() => dirs.cleanup());

  /** A one-query tree (the fixture's QueryBuild) whose help cites `src`. */
  function treeCiting(src: string): { root: string; folder: string } {
    const root = join(dirs.make('codeql'), 'checkout');
    const folder = join(root, 'python/ql/src/Security/CWE-089');
    cpSync(join(FIXTURE, 'ql/python/ql/src/Security/CWE-089'), folder, { recursive: true });
    const help = `<!DOCTYPE qhelp PUBLIC "-//Semmle//qhelp//EN" "qhelp.dtd">\n<qhelp>\n<example>\n<sample src="examples/query_build.py" />\n<sample src="${src}" />\n</example>\n</qhelp>\n`;
    writeFileSync(join(folder, 'QueryBuild.qhelp'), help);
    return { root, folder };
  }

  async function onlyProblem(root: string): Promise<CodeqlProblem> {
    const { queries, problems } = await read(root);
    // The query survives with its good sample.
    expect(queries).toHaveLength(1);
    expect(queries[0].samples.map((s) => s.path.split('/').pop())).toEqual(['query_build.py']);
    expect(problems).toHaveLength(1);
    return problems[0];
  }

  it('refuses a sample path leading out of the root', async () => {
    const { root } = treeCiting('../../../../../../../../../../etc/passwd');
    expect(await onlyProblem(root)).toMatchObject({ kind: 'outside-root', file: 'python/ql/src/Security/CWE-089/QueryBuild.qhelp', line: 5 });
  });

  it('refuses a symbolic link leading out of the root', async () => {
    const { root, folder } = treeCiting('examples/secret.py');
    const outside = join(root, '..', 'outside.py');
    writeFileSync(outside, 'print("secret")\n');
    symlinkSync(outside, join(folder, 'examples/secret.py'));
    expect(await onlyProblem(root)).toMatchObject({ kind: 'outside-root' });
  });

  it('skips a sample over the size limit', async () => {
    const { root, folder } = treeCiting('examples/huge.py');
    writeFileSync(join(folder, 'examples/huge.py'), `x = 1\n${'#'.repeat(MAX_CODEQL_SAMPLE_BYTES)}\n`);
    expect(await onlyProblem(root)).toMatchObject({ kind: 'too-large' });
  });

  const canMakeFifo = process.platform !== 'win32';
  (canMakeFifo ? it : it.skip)('never opens a FIFO, cited or lying anywhere in the tree', async () => {
    const { root, folder } = treeCiting('examples/pipe.py');
    execFileSync('mkfifo', [join(folder, 'examples/pipe.py')]);
    mkdirSync(join(root, 'other'));
    execFileSync('mkfifo', [join(root, 'other/stray.qhelp')]);
    const { queries, problems } = await read(root);
    expect(queries).toHaveLength(1);
    // Once where the walk meets each, and once where the help cites one.
    expect(problems.map((p) => [p.kind, p.file])).toEqual([
      ['not-regular-file', 'other/stray.qhelp'],
      ['not-regular-file', 'python/ql/src/Security/CWE-089/examples/pipe.py'],
      ['not-regular-file', 'python/ql/src/Security/CWE-089/QueryBuild.qhelp'],
    ]);
    expect(problems[2].message).toMatch(/pipe\.py.*never opened/);
  });

  it('reports an include cycle through two fragments once and reads on', async () => {
    const { root, folder } = treeCiting('examples/query_build.py');
    const fragment = (other: string): string => `<qhelp><fragment><p>${other}</p><include src="${other}" /></fragment></qhelp>`;
    writeFileSync(join(folder, 'A.inc.qhelp'), fragment('B.inc.qhelp'));
    writeFileSync(join(folder, 'B.inc.qhelp'), fragment('A.inc.qhelp'));
    writeFileSync(join(folder, 'QueryBuild.qhelp'), '<qhelp><overview><include src="A.inc.qhelp" /></overview></qhelp>');
    const { queries, problems } = await read(root);
    expect(queries[0].overview).toBe('B.inc.qhelp\nA.inc.qhelp');
    expect(problems.map((p) => p.kind)).toEqual(['include-cycle']);
  });

  it('reports a help file nested absurdly deep as malformed instead of overflowing the stack', async () => {
    const { root, folder } = treeCiting('examples/query_build.py');
    writeFileSync(join(folder, 'QueryBuild.qhelp'), `<qhelp>${'<p>'.repeat(100_000)}x${'</p>'.repeat(100_000)}</qhelp>`);
    const { queries, problems } = await read(root);
    expect(queries).toEqual([]);
    expect(problems.map((p) => p.kind)).toEqual(['malformed-xml']);
  });

  it('throws InvalidInputError for a root that is missing or not a folder', async () => {
    const dir = dirs.make('codeql');
    await expect(readCodeqlHelp(join(dir, 'absent'))).rejects.toBeInstanceOf(InvalidInputError);
    writeFileSync(join(dir, 'file.txt'), 'x');
    await expect(readCodeqlHelp(join(dir, 'file.txt'))).rejects.toBeInstanceOf(InvalidInputError);
  });
});
