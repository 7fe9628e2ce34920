import { execFile } from 'node:child_process';
import { appendFileSync, closeSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { acquireExclusiveLock, scanSegment, segmentNumber } from '@rescue/datasets';

const run = promisify(execFile);
const root = resolve(__dirname, '../../..');
const bin = join(root, 'bin/rescue.js');

interface Failed {
  code: number;
  stdout: string;
  stderr: string;
}
const fails = (args: string[]): Promise<Failed> =>
  run('node', [bin, ...args]).then(
    (r) => {
      throw new Error(`expected exit 1, got 0: ${r.stdout}`);
    },
    (err: Failed) => err,
  );

/** Issue 11 (integrity): `kb stats` called 5 of 8 corruptions healthy; `kb verify` names each one. */
describe('rescue kb verify and one writer per --out (the built command)', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'rescue-cli-verify-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('passes a fresh build, names a damaged LanceDB file and a corrupt record with exit 1, and passes again after a rebuild', async () => {
    const kb = join(dir, 'kb');
    const build = () => run('node', [bin, 'kb', 'build', '--source', join(root, 'examples/fix-pairs'), '--kb', kb, '--json'], { maxBuffer: 1 << 24 });
    const version = (JSON.parse((await build()).stdout) as { manifest: { version: string } }).manifest.version;
    const ok = await run('node', [bin, 'kb', 'verify', '--kb', kb]);
    expect((await run('node', [bin, 'kb', 'stats', '--kb', kb])).stdout).toMatch(new RegExp(`^KB ${version} \\(.*\\); \\d+ files verified against their checksums\n`));
    expect(ok.stdout).toMatch(new RegExp(`^KB ${version} in ${kb}: OK \\(\\d+ files, [\\d.]+ MB hashed\\)\\n  records: 15 checked, 0 corrupt\\n  slices: 15 checked, 0 corrupt\\n$`));
    expect(JSON.parse((await run('node', [bin, 'kb', 'verify', '--kb', kb, '--json', '--version', version])).stdout)).toMatchObject({ ok: true, version: { version, ok: true, problems: [] } });

    const lance = join(kb, 'versions', version, 'lance');
    const data = readdirSync(lance, { recursive: true, withFileTypes: true }).find((e) => e.isFile() && e.name.endsWith('.lance'));
    if (!data) throw new Error(`no LanceDB data file under ${lance}`);
    const damaged = join(data.parentPath, data.name);
    appendFileSync(damaged, 'x');
    // A damaged block inside the first stored record (the records live in append-only segments).
    const segment = join(kb, 'records', readdirSync(join(kb, 'records')).find((n) => segmentNumber(n) !== undefined) as string);
    const [entry] = scanSegment(readFileSync(segment), 0).entries;
    const fd = openSync(segment, 'r+');
    writeSync(fd, 'trunc', entry.payloadOffset + 3);
    closeSync(fd);
    const recordFile = `${segment} at byte ${entry.start}`;

    const bad = await fails(['kb', 'verify', '--kb', kb]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain(`KB ${version} in ${kb}: 1 problem(s)`);
    expect(bad.stdout).toContain('records: 15 checked, 1 corrupt');
    expect(bad.stderr).toContain(`rescue: ${damaged}: content changed`);
    expect(bad.stderr).toContain(`rescue: ${recordFile}: fails its checksum`);
    // kb stats no longer reads counts from a damaged version as if it were healthy.
    const stats = await fails(['kb', 'stats', '--kb', kb]);
    expect(stats.stderr).toContain(`${damaged}: content changed`);
    expect(stats.stdout).toBe('');
    const json = JSON.parse((await fails(['kb', 'verify', '--kb', kb, '--json'])).stdout) as { ok: boolean; version: { problems: { file: string }[] } };
    expect(json.ok).toBe(false);
    expect(json.version.problems.map((p) => p.file)).toEqual([damaged]);

    // The rebuild re-ingests the record and replaces the damaged version folder.
    expect((JSON.parse((await build()).stdout) as { manifest: { version: string } }).manifest.version).toBe(version);
    expect((await run('node', [bin, 'kb', 'verify', '--kb', kb])).stdout).toMatch(/: OK .*\n {2}records: 15 checked, 0 corrupt/);
  }, 120_000);

  it('refuses a second kb ingest into one --out, and a second generate into one --out, naming the holder', async () => {
    const out = join(dir, 'ingest-out');
    const held = await acquireExclusiveLock(join(out, '.lock'), { purpose: 'ingest --out' });
    try {
      const second = await fails(['kb', 'ingest', '--source', join(root, 'examples/fix-pairs'), '--out', out]);
      expect(second.stderr).toMatch(new RegExp(`rescue: another ingest --out holds ${join(out, '.lock')} since \\S+, pid ${process.pid} on \\S+: wait for it to finish`));
      expect(readdirSync(out).filter((n) => n === 'records')).toEqual([]);
    } finally {
      await held.release();
    }
    await run('node', [bin, 'kb', 'ingest', '--source', join(root, 'examples/fix-pairs'), '--out', out]);
    expect(readdirSync(out)).toContain('records');

    const results = join(dir, 'results.jsonl');
    const tasks = join(dir, 'tasks.jsonl');
    writeFileSync(tasks, `${JSON.stringify({ id: 't1', language: 'python', prompt: 'def f(x):\n' })}\n`);
    const generating = await acquireExclusiveLock(`${results}.lock`, { purpose: 'generate --out' });
    try {
      const second = await fails(['generate', '--distributed', '--tasks', tasks, '--out', results, '--kb', join(dir, 'kb')]);
      expect(second.stderr).toContain(`rescue: another generate --out holds ${results}.lock since `);
    } finally {
      await generating.release();
    }
  }, 60_000);
});
