import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { KbDirectory, localEmbedder } from '@rescue/knowledge';
import { buildKnowledgeBase } from '@rescue/pipeline';
import { LanceKnowledgeIndex, type TermCounts, countTerms } from '@rescue/retrieval';
import { SMALL_BUILD } from './small-build';

const examples = resolve(__dirname, '../../../examples/fix-pairs');

// A build whose summarized clusters spill out of memory is indexed from the staging cluster by
// cluster, pass after pass (see ExampleSource), instead of from one list of every example. Both
// ways must publish the same version, byte for byte.
describe('buildKnowledgeBase: the index stage streamed from spilled clusters', () => {
  let work: string;
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'rescue-streamed-index-'));
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  const build = (name: string, options: { stagingMemoryChars?: number; maxFitDocuments?: number; spillTextsAbove?: number; chunkedAboveRecords?: number }) =>
    buildKnowledgeBase({ sources: [examples], kbDir: join(work, name), ...SMALL_BUILD, embedder: localEmbedder, sliceThreads: 0, ...options });

  /**
   * The digest of every file of the version but the manifest (which holds the time of the build)
   * and LanceDB's tables (whose file names are random ids, build after build), by path.
   */
  const files = async (name: string): Promise<Record<string, string>> => {
    const manifest = await new KbDirectory(join(work, name)).manifest();
    return Object.fromEntries(Object.entries(manifest.checksums?.files ?? {}).filter(([path]) => !path.startsWith('lance/')));
  };

  it('publishes the same version and files as the build that held its clusters in memory', async () => {
    const held = await build('held', {});
    // Nothing held: every cluster spills to <kb>/staging.
    const streamed = await build('streamed', { stagingMemoryChars: 0 });
    expect(held.manifest.counts.examples).toBeGreaterThan(1);
    expect(streamed.manifest.version).toBe(held.manifest.version);
    expect(streamed.manifest.counts).toEqual(held.manifest.counts);
    expect(streamed.manifest.sources).toEqual(held.manifest.sources);
    expect(Object.keys(await files('held'))).toEqual(expect.arrayContaining(['examples.jsonl', 'nodes.jsonl', 'documents.jsonl', 'memory-index.bin', 'term-counts.json', 'embedder.json']));
    expect(await files('streamed')).toEqual(await files('held'));
    const examplesFile = (name: string): string => readFileSync(join(work, name, 'versions', held.manifest.version, 'examples.jsonl'), 'utf8');
    expect(examplesFile('streamed')).toBe(examplesFile('held'));
    // The examples' search terms and vectors in files while the version is written (a big build's way), and removed after.
    const spilled = await build('spilled', { stagingMemoryChars: 0, spillTextsAbove: 0 });
    expect(spilled.manifest.version).toBe(held.manifest.version);
    expect(await files('spilled')).toEqual(await files('held'));
    // The LanceDB tables' files carry random ids: their rows, vectors included, are what must agree.
    const exampleRows = async (name: string): Promise<unknown[]> => {
      const index = await LanceKnowledgeIndex.open(join(work, name, 'versions', held.manifest.version));
      return (await index.scan('examples', ['id', 'code_text', 'api_text', 'vector'])).map((r) => ({ ...r, vector: Array.from(r.vector as ArrayLike<number>) }));
    };
    const heldRows = await exampleRows('held');
    expect(heldRows).toHaveLength(held.manifest.counts.examples);
    expect(await exampleRows('spilled')).toEqual(heldRows);
    expect(readdirSync(join(work, 'spilled', 'staging', 'publish'))).toEqual([]);
    // Every cluster summarized a chunk at a time (a big cluster's way), its key the same.
    const chunked = await build('chunked', { chunkedAboveRecords: 0 });
    expect(chunked.manifest.version).toBe(held.manifest.version);
    expect(await files('chunked')).toEqual(await files('held'));
    const cacheKeys = (name: string): string[] => readdirSync(join(work, name, 'cache', 'clusters')).sort();
    expect(cacheKeys('chunked')).toEqual(cacheKeys('held'));
    // Its examples went through a spool (a file) to the cache and the staging: the same cached summaries, byte for byte, and the spool removed.
    const cached = (name: string): string[] => cacheKeys(name).map((k) => readFileSync(join(work, name, 'cache', 'clusters', k), 'utf8'));
    expect(cached('chunked')).toEqual(cached('held'));
    expect(readdirSync(join(work, 'chunked', 'staging', 'summarize'))).toEqual([]);
    // And a rebuild into the chunked folder reuses those summaries: the same version again.
    const again = await build('chunked', { chunkedAboveRecords: 0 });
    expect(again.reused.clusters).toBe(again.reused.of);
    expect(again.manifest.version).toBe(held.manifest.version);
  }, 180_000);

  it("writes the term counts the examples', documents' and catalogue texts give when counted again", async () => {
    const built = await build('term-counts', {});
    const versionDir = join(work, 'term-counts', 'versions', built.manifest.version);
    const index = await LanceKnowledgeIndex.open(versionDir);
    const texts = [
      ...(await index.scan('examples', ['code_text'])).map((r) => String(r.code_text)),
      ...(await index.scan('documents', ['terms'])).map((r) => String(r.terms)),
      ...(await index.scan('nodes', ['catalog_terms'])).map((r) => String(r.catalog_terms)),
    ];
    const written = JSON.parse(readFileSync(join(versionDir, 'term-counts.json'), 'utf8')) as TermCounts;
    expect(written.total).toBeGreaterThan(0);
    expect(written).toEqual(JSON.parse(JSON.stringify(countTerms(texts, 400_000))));
  }, 180_000);

  it('chooses the same fit sample when the examples pass the cap (its texts read in a second pass)', async () => {
    const whole = await build('whole', {});
    const cap = whole.manifest.counts.nodes + 3;
    const held = await build('held-sampled', { maxFitDocuments: cap });
    const streamed = await build('streamed-sampled', { maxFitDocuments: cap, stagingMemoryChars: 0 });
    expect((held.manifest.embedder.params as Record<string, unknown>).corpusSize).toBe(cap);
    expect(held.manifest.version).not.toBe(whole.manifest.version);
    expect(streamed.manifest.version).toBe(held.manifest.version);
    expect(await files('streamed-sampled')).toEqual(await files('held-sampled'));
  }, 180_000);
});
