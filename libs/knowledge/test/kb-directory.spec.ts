import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidInputError, NotFoundError } from '@rescue/domain';
import { type CodeExample, KbDirectory } from '@rescue/knowledge';
import { oneNodeVersion } from './one-node-version';

describe('KbDirectory versions', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'rescue-kbdir-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('publishes immutable, content-addressed versions and moves the pointer atomically', async () => {
    const dir = new KbDirectory(root);
    const v1 = await dir.publish(oneNodeVersion('Use parameters.'), async (d) => writeFile(join(d, 'extra.txt'), 'x'));
    expect(await dir.current()).toBe(v1.version);
    expect(existsSync(join(dir.versionDir(v1.version), 'extra.txt'))).toBe(true);
    expect((await dir.nodes())[0].guidelines).toEqual(['Use parameters.']);

    const again = await dir.publish(oneNodeVersion('Use parameters.'), async () => undefined);
    expect(again.version).toBe(v1.version);
    expect(again.createdAt).toBe(v1.createdAt);

    const v2 = await dir.publish(oneNodeVersion('Never concatenate SQL.'), async () => undefined);
    expect(v2.version).not.toBe(v1.version);
    expect(await dir.current()).toBe(v2.version);
    expect((await dir.list()).map((m) => m.version).sort()).toEqual([v1.version, v2.version].sort());
  });

  it('writes each content file as one JSON document per line, chunk by chunk, byte for byte as one joined string would be', async () => {
    const content = oneNodeVersion('Use parameters.');
    // More examples than one write takes (1,000), so the file is written in several chunks.
    const examples = Array.from({ length: 2345 }, (_, i): CodeExample => ({
      id: `e${i}`,
      recordId: `r${i}`,
      cweNodeId: 'python:CWE-89',
      cwe: 'CWE-89',
      language: 'python',
      slicedSecure: `ok(${i})`,
      slicedVulnerable: `bad(${i})`,
      apiNames: [],
    }));
    const dir = new KbDirectory(root);
    const m = await dir.publish({ ...content, examples }, async () => undefined);
    const joined = (items: unknown[]): string => items.map((x) => JSON.stringify(x)).join('\n') + '\n';
    expect(readFileSync(join(dir.versionDir(m.version), 'examples.jsonl'), 'utf8')).toBe(joined(examples));
    expect(readFileSync(join(dir.versionDir(m.version), 'nodes.jsonl'), 'utf8')).toBe(joined(content.nodes));
    // No documents: one empty line, as the joined form writes it.
    expect(readFileSync(join(dir.versionDir(m.version), 'documents.jsonl'), 'utf8')).toBe('\n');
    expect((await dir.examples()).map((e) => e.id)).toEqual(examples.map((e) => e.id));
  });

  it('leaves the previous version serving when a build fails before publishing', async () => {
    const dir = new KbDirectory(root);
    const v1 = await dir.publish(oneNodeVersion('Use parameters.'), async () => undefined);
    await expect(
      dir.publish(oneNodeVersion('half-written'), async () => {
        throw new Error('index write failed');
      }),
    ).rejects.toThrow('index write failed');
    expect(await dir.current()).toBe(v1.version);
    expect(readdirSync(join(root, 'versions')).filter((n) => n.startsWith('.tmp'))).toEqual([]);
    expect((await dir.nodes())[0].guidelines).toEqual(['Use parameters.']);
  });

  it('keeps only the newest versions it is told to keep', async () => {
    const dir = new KbDirectory(root);
    for (const g of ['a rule one', 'a rule two', 'a rule three', 'a rule four']) {
      await dir.publish(oneNodeVersion(g), async () => undefined, 2);
      await new Promise((r) => setTimeout(r, 5));
    }
    const versions = await dir.list();
    expect(versions).toHaveLength(2);
    expect(versions[0].version).toBe(await dir.current());
  });

  it('says what to do when nothing is published, and refuses odd version ids', async () => {
    const dir = new KbDirectory(root);
    await expect(dir.manifest()).rejects.toThrow(/rescue kb build/);
    await expect(dir.manifest()).rejects.toBeInstanceOf(NotFoundError);
    expect(() => dir.versionDir('../../etc')).toThrow(/not a KB version id/);
  });

  it('treats only a missing file as "nothing there": other read errors and corrupt manifests surface', async () => {
    const dir = new KbDirectory(root);
    expect(await dir.current()).toBeUndefined();
    expect(await dir.list()).toEqual([]);
    // A folder with no manifest, or a stray file named like a version, is not a published version.
    mkdirSync(join(root, 'versions', 'kb-0000000000000000'), { recursive: true });
    writeFileSync(join(root, 'versions', 'kb-1111111111111111'), 'x');
    expect(await dir.list()).toEqual([]);
    // A manifest that is not JSON is named, not skipped.
    mkdirSync(join(root, 'versions', 'kb-2222222222222222'));
    writeFileSync(join(root, 'versions', 'kb-2222222222222222', 'manifest.json'), '{"version": "kb-22');
    await expect(dir.list()).rejects.toThrow(InvalidInputError);
    await expect(dir.list()).rejects.toThrow(/kb-2222222222222222.manifest\.json is not valid JSON/);
    // CURRENT that cannot be read as a file is an error, not "nothing published".
    mkdirSync(join(root, 'CURRENT'));
    await expect(dir.current()).rejects.toMatchObject({ code: 'EISDIR' });
  });
});
