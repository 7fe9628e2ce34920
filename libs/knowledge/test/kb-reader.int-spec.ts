import { appendFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { InvalidInputError } from '@rescue/domain';
import { KbDirectory, KbIntegrityError, KnowledgeBaseReader, kbIntegrity, localEmbedder } from '@rescue/knowledge';
import { buildKnowledgeBase } from '@rescue/pipeline';

const examples = resolve(__dirname, '../../../examples/fix-pairs');

describe('KnowledgeBaseReader: a long-lived reader follows republishes and serves pinned versions', () => {
  let kbDir: string;
  beforeAll(() => {
    kbDir = mkdtempSync(join(tmpdir(), 'rescue-kb-reader-'));
  });
  afterAll(() => rmSync(kbDir, { recursive: true, force: true }));

  const build = (sources: string[], keepVersions = 3) =>
    buildKnowledgeBase({ sources, kbDir, catalog: new Map(), clusterBy: 'language-cwe', catalogOnlyNodes: false, hops: 2, maxLineBytes: 1 << 20, embedder: localEmbedder, keepVersions });

  it('answers live() with a newly published version without a restart, and version(v) with v while it exists', async () => {
    const v1 = (await build([examples])).manifest.version;
    let clock = 0;
    const reader = new KnowledgeBaseReader({ dir: kbDir, elasticsearchPrefix: 'rescue' }, {}, () => clock);
    expect((await reader.live()).manifest.version).toBe(v1);

    const extra = join(kbDir, 'extra.jsonl');
    writeFileSync(
      extra,
      `${JSON.stringify({ language: 'python', cwe: 'CWE-79', before: 'def page(n):\n    return "<b>" + n + "</b>"\n', after: 'def page(n):\n    return "<b>" + html.escape(n) + "</b>"\n' })}\n`,
    );
    const v2 = (await build([examples, extra])).manifest.version;
    expect(v2).not.toBe(v1);
    // Within the check interval the reader still answers with what it saw; after it, with the new version.
    expect((await reader.live()).manifest.version).toBe(v1);
    clock += 1000;
    expect((await reader.live()).manifest.version).toBe(v2);
    // A job planned on v1 is still served by v1.
    const pinned = await reader.version(v1);
    expect(pinned.manifest.version).toBe(v1);
    expect((await pinned.retriever.retrieve({ language: 'python', text: 'look the user up by name with an SQL query', code: 'cur.execute(q)', apis: ['execute'] })).cwes[0]?.cwe).toBe('CWE-89');

    // Once pruned, a pinned version is a clear, final error, not a crash or a silent switch.
    const extra2 = join(kbDir, 'extra2.jsonl');
    writeFileSync(extra2, `${JSON.stringify({ language: 'python', cwe: 'CWE-22', before: 'def read(p):\n    return open(p).read()\n', after: 'def read(p):\n    return open(safe(p)).read()\n' })}\n`);
    await build([examples, extra, extra2], 1);
    const fresh = new KnowledgeBaseReader({ dir: kbDir, elasticsearchPrefix: 'rescue' });
    await expect(fresh.version(v1)).rejects.toThrow(InvalidInputError);
    await expect(fresh.version(v1)).rejects.toThrow(/KB version kb-\w+ is not in .*pruned/);
  }, 60_000);

  it('refuses a damaged version by name, reports it to readiness, and serves it again once a rebuild repaired it (issue 11)', async () => {
    const dir = join(kbDir, 'integrity');
    const buildHere = () =>
      buildKnowledgeBase({ sources: [examples], kbDir: dir, catalog: new Map(), clusterBy: 'language-cwe', catalogOnlyNodes: false, hops: 2, maxLineBytes: 1 << 20, embedder: localEmbedder });
    const v = (await buildHere()).manifest.version;
    const versionDir = new KbDirectory(dir).versionDir(v);
    const table = readdirSync(join(versionDir, 'lance'), { recursive: true, withFileTypes: true }).find((e) => e.isFile() && e.name.endsWith('.lance'));
    if (!table) throw new Error(`no LanceDB data file under ${versionDir}/lance`);
    const damaged = join(table.parentPath, table.name);
    appendFileSync(damaged, 'x');
    const err = await new KnowledgeBaseReader({ dir, elasticsearchPrefix: 'rescue' }).live().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KbIntegrityError);
    expect((err as Error).message).toContain(`${damaged}: content changed`);
    expect(await kbIntegrity(dir)).toMatchObject({ state: 'corrupt', version: v, verification: { problems: [{ file: damaged }] } });

    // The rebuild replaces the damaged copy; the new manifest file is verified afresh.
    expect((await buildHere()).manifest.version).toBe(v);
    expect(await kbIntegrity(dir)).toMatchObject({ state: 'ok', version: v });
    const kb = await new KnowledgeBaseReader({ dir, elasticsearchPrefix: 'rescue' }).live();
    expect(kb.manifest.version).toBe(v);
    await kb.retriever.retrieve({ language: 'python', text: 'SQL query by name', code: 'cur.execute(q)', apis: ['execute'] });
    // Calibrating goes beside the version (kb calibrate's path), so the version stays as published.
    await kb.saveCalibration({ fittedOn: 'tasks.jsonl', createdAt: new Date().toISOString() });
    expect(readdirSync(join(dir, 'calibration'))).toEqual([`${v}.json`]);
    // Reading and searching the LanceDB tables leaves the version exactly as published.
    expect(await new KbDirectory(dir).verify()).toMatchObject({ ok: true, problems: [] });
  }, 60_000);
});
