import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { KbDirectory, type QuarantineEntry } from '@rescue/knowledge';

const run = promisify(execFile);
const root = resolve(__dirname, '../../..');
const bin = join(root, 'bin/rescue.js');
const fixtures = join(root, 'libs/pipeline/test/fixtures/kb-poisoning');
const fail = (p: Promise<unknown>): Promise<{ code: number; stderr: string }> =>
  p.then(
    () => ({ code: 0, stderr: '' }),
    (err: { code: number; stderr: string }) => err,
  );

describe('rescue kb build --trusted-source/--untrusted-source, kb quarantine list/release', () => {
  let kb: string;
  beforeAll(() => {
    kb = mkdtempSync(join(tmpdir(), 'rescue-quarantine-cli-'));
  });
  afterAll(() => rmSync(kb, { recursive: true, force: true }));

  const build = (...extra: string[]) =>
    run('node', [bin, 'kb', 'build', '--source', join(fixtures, 'fix-pairs'), join(fixtures, 'codeql'), '--cwe-catalog', join(fixtures, 'cwe-catalog.csv'), '--kb', kb, ...extra], {
      maxBuffer: 1 << 24,
    });

  it('builds with trust settings, lists what was held and why, and releases by id for the next build', async () => {
    const trust = ['--trusted-source', join(fixtures, 'fix-pairs/clean.jsonl'), '--untrusted-source', join(fixtures, 'codeql'), '--json'];
    const report = JSON.parse((await build(...trust)).stdout);
    expect(report.quarantine).toMatchObject({ held: 20, released: 0, path: join(kb, 'quarantine', 'report.json') });

    // Trust as the flags and the defaults say: the vouched-for file's examples trusted, the CodeQL
    // checkout distrusted by flag, the poisoned fix pairs untrusted by default, the catalogue trusted.
    const examples = await new KbDirectory(kb).examples();
    expect(new Set(examples.filter((e) => e.source === 'generic').map((e) => e.trust))).toEqual(new Set(['trusted']));
    expect(new Set(examples.filter((e) => e.source === 'codeql').map((e) => e.trust))).toEqual(new Set(['untrusted']));
    const listed = JSON.parse((await run('node', [bin, 'kb', 'quarantine', 'list', '--kb', kb, '--json'])).stdout) as { entries: QuarantineEntry[]; summary: { held: number } };
    expect(listed.summary.held).toBe(20);
    const trustOf = (kind: string) => new Set(listed.entries.filter((e) => e.kind === kind).map((e) => e.trust));
    expect(trustOf('advice')).toEqual(new Set(['untrusted']));
    expect(trustOf('catalog-text')).toEqual(new Set(['trusted']));
    expect(new Set(listed.entries.filter((e) => e.source.file.endsWith('poisoned.jsonl')).map((e) => e.trust))).toEqual(new Set(['untrusted']));

    const target = listed.entries.find((e) => e.source.file.endsWith('poisoned.jsonl') && e.source.line === 4) as QuarantineEntry;
    const human = (await run('node', [bin, 'kb', 'quarantine', 'list', '--kb', kb])).stdout;
    expect(human).toContain(`${target.id}  fix-record  untrusted  ${join(fixtures, 'fix-pairs/poisoned.jsonl')}:4  CWE-22 python`);
    expect(human).toContain('added_network_call (after, requests): the fix adds requests (new hosts: canaryp04.example.net)');
    // Hidden characters are named, never printed raw.
    expect(human).not.toMatch(/[\u200b\u202e\u2066\u{e0000}-\u{e007f}]/u);

    // An unknown id fails the whole command and releases nothing.
    const unknown = await fail(run('node', [bin, 'kb', 'quarantine', 'release', target.id, 'f'.repeat(32), '--kb', kb]));
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain(`${'f'.repeat(32)} is not in the quarantine report of build inline (rescue kb quarantine list)`);
    expect(existsSync(join(kb, 'quarantine', 'released.json'))).toBe(false);

    const released = await run('node', [bin, 'kb', 'quarantine', 'release', target.id.slice(0, 12), '--kb', kb]);
    expect(released.stdout).toContain(`released ${target.id}`);
    expect(released.stdout).toContain('Takes effect at the next build');
    // Not before: the serving version does not have it.
    expect((await new KbDirectory(kb).examples()).some((e) => e.recordId === target.id)).toBe(false);

    const rebuilt = JSON.parse((await build(...trust)).stdout);
    expect(rebuilt.quarantine).toMatchObject({ held: 19, released: 1 });
    expect((await new KbDirectory(kb).examples()).find((e) => e.recordId === target.id)).toMatchObject({ released: true });
  }, 120_000);

  it('refuses a trust path that does not exist, naming it', async () => {
    const missing = await fail(build('--trusted-source', join(fixtures, 'no-such-folder')));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`--trusted-source "${join(fixtures, 'no-such-folder')}": no such file or folder`);
  });

  it('says to build first when the folder has no quarantine report', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'rescue-quarantine-empty-'));
    try {
      const none = await fail(run('node', [bin, 'kb', 'quarantine', 'list', '--kb', empty]));
      expect(none.code).toBe(1);
      expect(none.stderr).toContain('build the KB first');
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
