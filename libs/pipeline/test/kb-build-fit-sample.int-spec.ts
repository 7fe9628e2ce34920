import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { KbDirectory, localEmbedder } from '@rescue/knowledge';
import { buildKnowledgeBase } from '@rescue/pipeline';
import { SMALL_BUILD } from './small-build';

const examples = resolve(__dirname, '../../../examples/fix-pairs');

// A build whose corpus passes the cap fits its LSA model on a sample chosen by content: the same
// inputs must still give the same model and version, and a corpus under the cap is fitted whole.
describe('buildKnowledgeBase: the embedder fitted on a bounded sample', () => {
  let work: string;
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'rescue-fit-sample-'));
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  const build = (name: string, maxFitDocuments?: number) =>
    buildKnowledgeBase({ sources: [examples], kbDir: join(work, name), ...SMALL_BUILD, embedder: localEmbedder, sliceThreads: 0, ...(maxFitDocuments ? { maxFitDocuments } : {}) });
  const corpusSize = (manifest: { embedder: Record<string, unknown> }): unknown => (manifest.embedder.params as Record<string, unknown>).corpusSize;

  it('fits on every node and the capped number of examples, and the same inputs give the same version', async () => {
    const whole = await build('whole');
    const nodes = whole.manifest.counts.nodes;
    const examplesCount = whole.manifest.counts.examples;
    expect(corpusSize(whole.manifest)).toBe(nodes + examplesCount);

    // A cap the corpus exactly reaches changes nothing.
    const atCap = await build('at-cap', nodes + examplesCount);
    expect(atCap.manifest.version).toBe(whole.manifest.version);

    const cap = nodes + 5;
    const [a, b] = [await build('sampled-a', cap), await build('sampled-b', cap)];
    expect(corpusSize(a.manifest)).toBe(cap);
    expect(a.manifest.version).toBe(b.manifest.version);
    expect(a.manifest.version).not.toBe(whole.manifest.version);
    // Every example is still embedded and indexed: only the fit is sampled.
    expect(a.manifest.counts.examples).toBe(examplesCount);
    expect(await new KbDirectory(join(work, 'sampled-a')).examples()).toHaveLength(examplesCount);
  }, 180_000);
});
