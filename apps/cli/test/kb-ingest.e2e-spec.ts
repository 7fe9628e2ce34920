import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = resolve(__dirname, '../../..');
const bin = join(root, 'bin/rescue.js');

describe('rescue kb ingest (the built command, as users run it)', () => {
  let out: string;
  beforeEach(() => {
    out = mkdtempSync(join(tmpdir(), 'rescue-cli-'));
  });
  afterEach(() => rmSync(out, { recursive: true, force: true }));

  it('ingests the examples and reports counts per language and CWE as JSON', async () => {
    const { stdout } = await run('node', [bin, 'kb', 'ingest', '--source', join(root, 'examples/fix-pairs'), '--out', out, '--json']);
    const report = JSON.parse(stdout);
    const expectedLines = ['generic-sample.jsonl', 'sven-style-sample.jsonl']
      .map(
        (f) =>
          readFileSync(join(root, 'examples/fix-pairs', f), 'utf8')
            .trim()
            .split('\n').length,
      )
      .reduce((a, b) => a + b, 0);
    expect(report.linesRead).toBe(expectedLines);
    expect(report.kept).toBe(expectedLines);
    expect(report.rejected).toBe(0);
    expect(Object.values(report.byLanguage as Record<string, number>).reduce((a, b) => a + b, 0)).toBe(report.kept);
    expect(report.byCwe['CWE-89']).toBeGreaterThan(0);
    expect(readFileSync(report.rejectsPath, 'utf8')).toBe('');
  });

  it('prints a readable summary, lists rejects with file:line, and --strict turns rejects into exit 1', async () => {
    const bad = join(out, 'bad.jsonl');
    writeFileSync(bad, '{"cwe": "CWE-89", "language": "python", "before": "a = 1", "after": "a = 2"}\n{"cwe": "sql", "language": "python", "before": "x", "after": "y"}\n');
    const { stdout, stderr } = await run('node', [bin, 'kb', 'ingest', '--source', bad, '--out', out]);
    expect(stdout).toMatch(/kept\s+1 distinct records/);
    expect(stdout).toMatch(/rejected\s+1: malformed_cwe 1/);
    expect(stderr).toContain(`${bad}:2: malformed_cwe field cwe (value "sql")`);
    await expect(run('node', [bin, 'kb', 'ingest', '--source', bad, '--out', out, '--strict'])).rejects.toMatchObject({ code: 1 });
  });

  it('exits 1 with a clear message for a bad option value', async () => {
    await expect(run('node', [bin, 'kb', 'ingest', '--source', bin, '--format', 'csv'])).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('--format must be auto, sven, safecoder or generic'),
    });
  });
});
