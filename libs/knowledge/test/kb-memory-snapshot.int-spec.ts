import { cpSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidInputError } from '@rescue/domain';
import { KbDirectory, type KbManifest, openKnowledgeBase } from '@rescue/knowledge';
import { MEMORY_INDEX_FILE, MemoryIndexSnapshotError } from '@rescue/retrieval';
import { buildSampleKb, retrieveSampleTasks } from './sample-kb';

// A published version carries a snapshot of its in-memory search index, which an open reads
// instead of the LanceDB tables. It must answer every task exactly as the tables do, and a version
// published before snapshots must still open (from its tables) with the same answers.

describe('a KB version opened from its memory index snapshot', () => {
  let work: string;
  let kbDir: string;
  let version: string;
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'rescue-kb-snapshot-'));
    kbDir = join(work, 'kb');
    version = await buildSampleKb(kbDir);
  }, 120_000);
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  const retrieveAll = (dir: string): Promise<unknown[]> => retrieveSampleTasks(dir);

  /** A copy of the KB whose version folder is changed by `change`. */
  function copyWith(name: string, change: (versionDir: string) => void): string {
    const copy = join(work, name);
    cpSync(kbDir, copy, { recursive: true });
    change(new KbDirectory(copy).versionDir(version));
    return copy;
  }

  it('is published with the version, covered by its checksums', async () => {
    const dir = new KbDirectory(kbDir);
    expect(Object.keys((await dir.manifest()).checksums?.files ?? {})).toContain(MEMORY_INDEX_FILE);
    expect((await dir.verify()).ok).toBe(true);
  });

  it('answers every task as a version published before snapshots does (read from its LanceDB tables)', async () => {
    // What an older Rescue published: no snapshot, and none listed in the manifest.
    const older = copyWith('older', (versionDir) => {
      unlinkSync(join(versionDir, MEMORY_INDEX_FILE));
      const manifestPath = join(versionDir, 'manifest.json');
      const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as KbManifest;
      delete manifest.checksums?.files[MEMORY_INDEX_FILE];
      writeFileSync(manifestPath, JSON.stringify(manifest, null, 2));
    });
    const fromSnapshot = await retrieveAll(kbDir);
    expect(fromSnapshot.length).toBeGreaterThan(0);
    expect(fromSnapshot).toEqual(await retrieveAll(older));
  }, 60_000);

  it('refuses a version whose snapshot is gone or damaged, naming the file', async () => {
    const gone = copyWith('gone', (versionDir) => unlinkSync(join(versionDir, MEMORY_INDEX_FILE)));
    const gonePath = join(new KbDirectory(gone).versionDir(version), MEMORY_INDEX_FILE);
    await expect(openKnowledgeBase(gone)).rejects.toThrow(InvalidInputError);
    await expect(openKnowledgeBase(gone)).rejects.toThrow(`${gonePath} is missing`);

    const damaged = copyWith('damaged', (versionDir) => writeFileSync(join(versionDir, MEMORY_INDEX_FILE), 'not a snapshot'));
    await expect(openKnowledgeBase(damaged)).rejects.toThrow(MemoryIndexSnapshotError);
    await expect(openKnowledgeBase(damaged)).rejects.toThrow(join(new KbDirectory(damaged).versionDir(version), MEMORY_INDEX_FILE));
  });
});
