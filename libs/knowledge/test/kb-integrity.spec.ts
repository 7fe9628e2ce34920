import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, mkdtempSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acquireExclusiveLock } from '@rescue/datasets';
import { ConflictError, NotFoundError } from '@rescue/domain';
import { KbDirectory, KbIntegrityError, type KbManifest, calibrationPath, writeCalibration } from '@rescue/knowledge';
import { oneNodeVersion } from './one-node-version';

/** What a real publish adds: an embedder file and a table folder with nested files, as LanceDB writes. */
async function extra(dir: string): Promise<void> {
  await writeFile(join(dir, 'term-counts.json'), '{"select":3}');
  await mkdir(join(dir, 'lance', 'nodes.lance', 'data'), { recursive: true });
  await writeFile(join(dir, 'lance', 'nodes.lance', 'data', 'part-0.lance'), Buffer.from([1, 2, 3, 4, 5, 6, 7, 8]));
  await writeFile(join(dir, 'lance', 'nodes.lance', '_latest.manifest'), 'v1');
}

const quiet = { onLockWait: () => undefined };

describe('KB version integrity (issue 11)', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'rescue-kbint-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('records a sha256 per file, LanceDB folders file by file, and keeps the version id the content hash', async () => {
    const dir = new KbDirectory(root);
    const m = await dir.publish(oneNodeVersion('Use parameters.'), extra, 3, quiet);
    // Pinned: the id of this content before checksums existed. Checksums are metadata, not content.
    expect(m.version).toBe('kb-373d36d5f361362c');
    expect(m.version).toBe(await KbDirectory.versionOfContent(oneNodeVersion('Use parameters.')));
    expect(Object.keys(m.checksums?.files ?? {}).sort()).toEqual([
      'documents.jsonl',
      'examples.jsonl',
      'lance/nodes.lance/_latest.manifest',
      'lance/nodes.lance/data/part-0.lance',
      'nodes.jsonl',
      'term-counts.json',
    ]);
    expect(m.checksums?.files['term-counts.json']).toBe(createHash('sha256').update('{"select":3}').digest('hex'));
    const stored = JSON.parse(readFileSync(join(dir.versionDir(m.version), 'manifest.json'), 'utf8')) as KbManifest;
    expect(stored.checksums).toEqual(m.checksums);
    expect(await dir.verify()).toMatchObject({ ok: true, version: m.version, files: 6, problems: [] });
  });

  describe('names each damaged file', () => {
    const cases: [string, (versionDir: string) => void, RegExp, string][] = [
      ['a truncated node file', (d) => truncateSync(join(d, 'nodes.jsonl'), 10), /content changed/, 'nodes.jsonl'],
      [
        'one flipped byte in a LanceDB data file',
        (d) => writeFileSync(join(d, 'lance/nodes.lance/data/part-0.lance'), Buffer.from([1, 2, 3, 4, 5, 6, 7, 9])),
        /content changed/,
        'lance/nodes.lance/data/part-0.lance',
      ],
      ['a deleted index file', (d) => rmSync(join(d, 'term-counts.json')), /is missing/, 'term-counts.json'],
      ['a file added after publishing', (d) => writeFileSync(join(d, 'lance', 'stray.txt'), 'x'), /added after publishing/, 'lance/stray.txt'],
      [
        'an edited manifest',
        (d) => writeFileSync(join(d, 'manifest.json'), readFileSync(join(d, 'manifest.json'), 'utf8').replace('"nodes": 1', '"nodes": 7')),
        /altered after publishing/,
        'manifest.json',
      ],
      ['a truncated manifest', (d) => truncateSync(join(d, 'manifest.json'), 30), /not valid JSON, truncated/, 'manifest.json'],
      [
        'a manifest with no checksums',
        (d) => writeFileSync(join(d, 'manifest.json'), JSON.stringify({ ...(JSON.parse(readFileSync(join(d, 'manifest.json'), 'utf8')) as object), checksums: undefined })),
        /no checksums/,
        'manifest.json',
      ],
    ];
    it.each(cases)('%s', async (_name, damage, problem, file) => {
      const dir = new KbDirectory(root);
      const m = await dir.publish(oneNodeVersion('Use parameters.'), extra, 3, quiet);
      damage(dir.versionDir(m.version));
      const result = await dir.verify();
      expect(result.ok).toBe(false);
      expect(result.problems).toEqual([{ file: join(dir.versionDir(m.version), file), problem: expect.stringMatching(problem) }]);
    });

    it('a CURRENT naming a version that is not there', async () => {
      const dir = new KbDirectory(root);
      await dir.publish(oneNodeVersion('Use parameters.'), extra, 3, quiet);
      writeFileSync(join(root, 'CURRENT'), 'kb-00000000000000aa\n');
      expect((await dir.verify()).problems).toEqual([{ file: join(root, 'versions', 'kb-00000000000000aa'), problem: 'is missing' }]);
      writeFileSync(join(root, 'CURRENT'), 'garbage');
      expect((await dir.verify()).problems).toEqual([{ file: join(root, 'CURRENT'), problem: 'names "garbage", not a KB version id' }]);
    });
  });

  it('a rebuild onto a damaged version replaces it, and never reports success with CURRENT broken', async () => {
    const dir = new KbDirectory(root);
    const m = await dir.publish(oneNodeVersion('Use parameters.'), extra, 3, quiet);
    truncateSync(join(dir.versionDir(m.version), 'nodes.jsonl'), 5);
    expect((await dir.verify()).ok).toBe(false);
    const again = await dir.publish(oneNodeVersion('Use parameters.'), extra, 3, quiet);
    expect(again.version).toBe(m.version);
    expect(await dir.current()).toBe(m.version);
    expect(await dir.verify()).toMatchObject({ ok: true });
    expect((await dir.nodes())[0].guidelines).toEqual(['Use parameters.']);
    expect(readdirSync(join(root, 'versions')).filter((n) => n.startsWith('.tmp'))).toEqual([]);
  });

  it('fails a publish whose written version does not verify, and leaves CURRENT where it was', async () => {
    const dir = new KbDirectory(root);
    const v1 = await dir.publish(oneNodeVersion('Use parameters.'), extra, 3, quiet);
    // A file that changes under the writer (as a faulty disk or another process would): it is
    // hashed when the manifest is written, then differs when the folder is checked before the switch.
    let n = 0;
    let fd: number | undefined;
    let timer: NodeJS.Timeout | undefined;
    const unstable = async (d: string): Promise<void> => {
      await extra(d);
      // Written through a descriptor, which follows the file when its folder is renamed into place.
      fd = openSync(join(d, 'unstable.bin'), 'w');
      writeSync(fd, 'first', 0);
      timer = setInterval(() => writeSync(fd as number, `changed ${(n += 1)}`, 0), 1);
    };
    const err = await dir.publish(oneNodeVersion('Never concatenate SQL.'), unstable, 3, quiet).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KbIntegrityError);
    expect((err as Error).message).toMatch(/after writing it \(CURRENT was not moved\): .*unstable\.bin: content changed/);
    expect(await dir.current()).toBe(v1.version);
    clearInterval(timer);
    if (fd !== undefined) closeSync(fd);
    expect(n).toBeGreaterThan(0);
  });

  it('a damaged older version neither fails the next publish nor outlives sound ones', async () => {
    const dir = new KbDirectory(root);
    const old = await dir.publish(oneNodeVersion('rule one'), extra, 2, quiet);
    await new Promise((r) => setTimeout(r, 5));
    const kept = await dir.publish(oneNodeVersion('rule two'), extra, 2, quiet);
    truncateSync(join(dir.versionDir(old.version), 'manifest.json'), 12);
    await new Promise((r) => setTimeout(r, 5));
    const latest = await dir.publish(oneNodeVersion('rule three'), extra, 2, quiet);
    expect(readdirSync(join(root, 'versions')).sort()).toEqual([kept.version, latest.version].sort());
  });

  it('removes .tmp-kb-* folders a killed build left, at the next publish', async () => {
    const dir = new KbDirectory(root);
    const left = join(root, 'versions', '.tmp-kb-0123456789abcdef-dead');
    mkdirSync(join(left, 'lance'), { recursive: true });
    writeFileSync(join(left, 'nodes.jsonl'), '{}\n');
    await dir.publish(oneNodeVersion('Use parameters.'), extra, 3, quiet);
    expect(existsSync(left)).toBe(false);
  });

  it("a second build waits for the lock, says who holds it, and leaves a live build's .tmp folder alone", async () => {
    const dir = new KbDirectory(root);
    mkdirSync(join(root, 'versions'), { recursive: true });
    const held = await acquireExclusiveLock(join(root, '.lock'), { purpose: 'build' });
    const live = join(root, 'versions', '.tmp-kb-0123456789abcdef-live');
    mkdirSync(live);
    const told: string[] = [];
    try {
      const err = await dir.publish(oneNodeVersion('Use parameters.'), extra, 3, { lockWaitMs: 600, onLockWait: (m) => told.push(m) }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConflictError);
      expect((err as Error).message).toMatch(new RegExp(`another build holds ${join(root, '.lock').replace(/[.\\/]/g, '\\$&')} since \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z, pid ${process.pid}`));
      expect(told).toHaveLength(1);
      expect(told[0]).toMatch(/another build holds .*\.lock since .*, pid \d+ .*; this build waits/);
      expect(existsSync(live)).toBe(true);
      expect(await dir.current()).toBeUndefined();
    } finally {
      await held.release();
    }
    // Released: the waiting build would now go ahead.
    await dir.publish(oneNodeVersion('Use parameters.'), extra, 3, quiet);
    expect(existsSync(live)).toBe(false);
  });

  it('serialises concurrent builds into one folder (no ENOTEMPTY): both succeed and CURRENT verifies', async () => {
    const dir = new KbDirectory(root);
    const same = await Promise.all([dir.publish(oneNodeVersion('Use parameters.'), extra, 3, quiet), new KbDirectory(root).publish(oneNodeVersion('Use parameters.'), extra, 3, quiet)]);
    expect(same[0].version).toBe(same[1].version);
    const different = await Promise.all([dir.publish(oneNodeVersion('rule A'), extra, 5, quiet), new KbDirectory(root).publish(oneNodeVersion('rule B'), extra, 5, quiet)]);
    expect(different.map((m) => m.version)).toContain(await dir.current());
    expect(await dir.verify()).toMatchObject({ ok: true });
    expect(existsSync(join(root, '.lock'))).toBe(false);
  });

  it('verifyOnce hashes a version once, and again when it was rebuilt in place', async () => {
    const dir = new KbDirectory(root);
    const m = await dir.publish(oneNodeVersion('Use parameters.'), extra, 3, quiet);
    const first = await dir.verifyOnce();
    expect(first.ok).toBe(true);
    truncateSync(join(dir.versionDir(m.version), 'nodes.jsonl'), 5);
    // Cached: damage after the check is not seen until the version changes (cheap readiness).
    expect(await dir.verifyOnce()).toBe(first);
    expect((await dir.verify()).ok).toBe(false);
    writeFileSync(join(dir.versionDir(m.version), 'manifest.json'), readFileSync(join(dir.versionDir(m.version), 'manifest.json'), 'utf8') + ' ');
    expect((await dir.verifyOnce()).ok).toBe(false);
  });

  it('activate points CURRENT at a kept version only when it verifies', async () => {
    const dir = new KbDirectory(root);
    const v1 = await dir.publish(oneNodeVersion('rule one'), extra, 3, quiet);
    const v2 = await dir.publish(oneNodeVersion('rule two'), extra, 3, quiet);
    expect((await dir.activate(v1.version, quiet)).version).toBe(v1.version);
    expect(await dir.current()).toBe(v1.version);
    rmSync(join(dir.versionDir(v2.version), 'term-counts.json'));
    const err = await dir.activate(v2.version, quiet).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KbIntegrityError);
    expect((err as Error).message).toMatch(/cannot be made current, it fails verification: .*term-counts\.json: is missing/);
    expect(await dir.current()).toBe(v1.version);
    await expect(dir.activate('kb-00000000000000aa', quiet)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('calibration is written beside a version, never into it', async () => {
    const dir = new KbDirectory(root);
    const m = await dir.publish(oneNodeVersion('Use parameters.'), extra, 3, quiet);
    const fitted = { fittedOn: 'tasks.jsonl', createdAt: '2026-11-30T00:00:00.000Z' };
    await expect(writeCalibration(join(dir.versionDir(m.version), 'calibration.json'), fitted)).rejects.toThrow(/inside a published KB version folder, which is immutable/);
    await writeCalibration(calibrationPath(root, m.version), fitted);
    expect(existsSync(join(root, 'calibration', `${m.version}.json`))).toBe(true);
    expect(await dir.verify()).toMatchObject({ ok: true });
  });

  it('an integrity error names every bad file and what to do', () => {
    const err = new KbIntegrityError({
      root: '/kb',
      version: 'kb-0000000000000001',
      ok: false,
      files: 2,
      bytes: 10,
      problems: [{ file: '/kb/versions/kb-0000000000000001/nodes.jsonl', problem: 'is missing' }],
    });
    expect(err.message).toBe(
      'KB version kb-0000000000000001 in /kb fails verification: /kb/versions/kb-0000000000000001/nodes.jsonl: is missing. Rebuild it with "rescue kb build" (a broken copy is replaced), or point CURRENT at a sound version',
    );
  });
});
