import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { KbDirectory, forgetModel } from '@rescue/knowledge';
import { LanceKnowledgeIndex, type SearchCollection } from '@rescue/retrieval';
import { buildSample, retrieveSampleTasks } from '../../knowledge/test/sample-kb';
import { countingEmbedder } from './counting-embedder';

// The hard rule of incremental rebuilds: a KB rebuilt into a folder that holds an earlier build
// (its records, slices, cluster summaries, memos and versions) is exactly the KB a build from
// scratch of the same sources publishes: the same version id, every published file byte for byte
// (but the LanceDB tables, whose files carry random ids and times: their rows are compared), and
// the same retrieval results. With the real embedder (LSA), which is refitted when records come.

const root = resolve(__dirname, '../../..');
const COLUMNS: Record<SearchCollection, string[]> = {
  nodes: ['id', 'cwe', 'language', 'text', 'api_text', 'doc_terms', 'catalog_terms', 'vector'],
  examples: ['id', 'node_id', 'cwe', 'language', 'kind', 'api_text', 'code_text', 'vector'],
  documents: ['id', 'kind', 'cwes', 'language', 'terms'],
};

/** Every file under `dir`, as sorted paths relative to `base`. */
function filesUnder(dir: string, base = dir): string[] {
  return readdirSync(dir)
    .flatMap((name) => {
      const p = join(dir, name);
      return statSync(p).isDirectory() ? filesUnder(p, base) : [relative(base, p)];
    })
    .sort();
}

/** A version folder as it can be compared: every file's bytes but the tables' and the manifest, the manifest without its time and the tables' checksums, the tables' rows. */
async function publishedContent(kbDir: string): Promise<Record<string, unknown>> {
  const dir = new KbDirectory(kbDir);
  const version = await dir.current();
  if (!version) throw new Error(`nothing published in ${kbDir}`);
  const versionDir = dir.versionDir(version);
  const out: Record<string, unknown> = { version };
  for (const rel of filesUnder(versionDir)) {
    if (rel.startsWith('lance/')) continue;
    if (rel === 'manifest.json') {
      const { createdAt: _createdAt, checksums, ...manifest } = JSON.parse(readFileSync(join(versionDir, rel), 'utf8')) as Record<string, unknown> & { checksums: { files: Record<string, string> } };
      out[rel] = { ...manifest, files: Object.fromEntries(Object.entries(checksums.files).filter(([f]) => !f.startsWith('lance/'))) };
    } else out[rel] = readFileSync(join(versionDir, rel)).toString('base64');
  }
  const index = await LanceKnowledgeIndex.open(versionDir);
  for (const [collection, fields] of Object.entries(COLUMNS)) {
    const rows = await index.scan(collection as SearchCollection, fields);
    out[`lance:${collection}`] = rows.map((r) => ({ ...r, ...(r.vector ? { vector: Array.from(r.vector as ArrayLike<number>) } : {}) }));
  }
  return out;
}

describe('an incremental KB rebuild publishes what a fresh build publishes', () => {
  let work: string;
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'rescue-kb-rebuild-fresh-'));
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  // The local embedder, its fits counted.
  const { embedder, fits, reset } = countingEmbedder();
  const build = (kbDir: string, sources: string[]) => buildSample(kbDir, sources, { embedder });

  it('records added to a built folder: the same version, the same files and rows, the same retrieval; nothing changed: the version kept as it is', async () => {
    // The example fix pairs split in two files: the first build reads one, the rebuild both.
    const sources = join(work, 'sources');
    mkdirSync(sources);
    const lines = ['generic-sample.jsonl', 'sven-style-sample.jsonl'].flatMap((f) =>
      readFileSync(join(root, 'examples/fix-pairs', f), 'utf8')
        .split('\n')
        .filter((l) => l.trim() !== ''),
    );
    const [firstLines, laterLines] = [lines.filter((_, i) => i % 4 !== 3), lines.filter((_, i) => i % 4 === 3)];
    writeFileSync(join(sources, 'a.jsonl'), `${firstLines.join('\n')}\n`);
    const later = join(work, 'later.jsonl');
    writeFileSync(later, `${laterLines.join('\n')}\n`);

    const kbDir = join(work, 'kb');
    const first = await build(kbDir, [sources]);
    reset();
    const rebuilt = await build(kbDir, [sources, later]);
    // New records are new text to fit on: the model is fitted again.
    expect(fits()).toBe(1);
    expect(rebuilt.manifest.version).not.toBe(first.manifest.version);
    expect(rebuilt.reused.clusters).toBeGreaterThan(0);

    const freshDir = join(work, 'fresh');
    const fresh = await build(freshDir, [sources, later]);
    expect(fresh.reused.clusters).toBe(0);
    expect(rebuilt.manifest.version).toBe(fresh.manifest.version);
    expect(await publishedContent(kbDir)).toEqual(await publishedContent(freshDir));
    expect(await retrieveSampleTasks(kbDir)).toEqual(await retrieveSampleTasks(freshDir));

    // Nothing changed: the version already published is served as it is (its manifest, written
    // once, is not rewritten), and it is still the fresh build's.
    const manifestPath = join(new KbDirectory(kbDir).versionDir(rebuilt.manifest.version), 'manifest.json');
    const before = readFileSync(manifestPath, 'utf8');
    reset();
    const again = await build(kbDir, [sources, later]);
    expect(again.manifest.version).toBe(fresh.manifest.version);
    // The same text to fit on: the version's model is read back, not fitted again.
    expect(fits()).toBe(0);
    expect(readFileSync(manifestPath, 'utf8')).toBe(before);
    expect(await publishedContent(kbDir)).toEqual(await publishedContent(freshDir));

    // A damaged model in the version. This process still holds the model it read back (whose bytes
    // hash as the manifest says), which is used, not fitted again; a new process, which holds no
    // model, never reads the damaged file back and fits again. Either way the version (a broken
    // copy now) is written anew, the fresh build's still.
    const model = join(new KbDirectory(kbDir).versionDir(again.manifest.version), 'embedder.json');
    for (const { newProcess, fitted } of [
      { newProcess: false, fitted: 0 },
      { newProcess: true, fitted: 1 },
    ]) {
      writeFileSync(model, readFileSync(model, 'utf8').replace('"corpusSize":', '"corpusSize":1'));
      if (newProcess) forgetModel();
      reset();
      const repaired = await build(kbDir, [sources, later]);
      expect(fits()).toBe(fitted);
      expect(repaired.manifest.version).toBe(fresh.manifest.version);
      expect(await publishedContent(kbDir)).toEqual(await publishedContent(freshDir));
    }
    expect(await retrieveSampleTasks(kbDir)).toEqual(await retrieveSampleTasks(freshDir));
  }, 240_000);
});
