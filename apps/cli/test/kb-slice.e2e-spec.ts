import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = resolve(__dirname, '../../..');
const bin = join(root, 'bin/rescue.js');

describe('rescue kb slice (the built command)', () => {
  let out: string;
  beforeEach(() => {
    out = mkdtempSync(join(tmpdir(), 'rescue-slice-'));
  });
  afterEach(() => rmSync(out, { recursive: true, force: true }));

  it('slices the examples, keeps every changed line, and writes one line per record', async () => {
    const file = join(out, 'slices.jsonl');
    const { stdout } = await run('node', [bin, 'kb', 'slice', '--source', join(root, 'examples/fix-pairs'), '--out', file, '--json']);
    const report = JSON.parse(stdout);
    expect(report.hops).toBe(2);
    expect(report.overall.functions).toBe(report.records);
    expect(report.overall.sliced).toBe(report.records);
    expect(report.overall.poiRetentionPct).toBe(100);
    expect(Object.keys(report.perLanguage).sort()).toEqual(['c', 'cpp', 'go', 'java', 'javascript', 'python', 'ruby']);
    const lines = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(report.records);
    expect(lines.every((l) => l.status === 'sliced' && typeof l.secure.code === 'string')).toBe(true);
  });

  it('rejects a bad --hops with a clear message', async () => {
    await expect(run('node', [bin, 'kb', 'slice', '--source', join(root, 'examples/fix-pairs'), '--hops', 'two'])).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('--hops must be a whole number'),
    });
  });
});
