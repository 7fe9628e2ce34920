import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { CweEntry } from '@rescue/datasets';
import type { CweId } from '@rescue/domain';
import { KbDirectory, MIN_KNOWLEDGE_FIT_DOCUMENTS, causeText } from '@rescue/knowledge';
import { buildKnowledgeBase } from '@rescue/pipeline';
import { countingEmbedder } from './counting-embedder';
import { SMALL_BUILD } from './small-build';

const examples = resolve(__dirname, '../../../examples/fix-pairs');

/** A made-up catalogue of `size` entries, worded from a small vocabulary so terms recur across entries. */
function catalogue(size: number): Map<CweId, CweEntry> {
  const words = ['input', 'query', 'path', 'buffer', 'length', 'password', 'token', 'command', 'shell', 'file', 'user', 'server', 'memory', 'bound', 'check', 'encode'];
  const pick = (i: number, k: number): string => words[(i * 7 + k * 3) % words.length];
  const entries = new Map<CweId, CweEntry>();
  for (let i = 1; i <= size; i += 1) {
    const id = `CWE-${i}` as CweId;
    entries.set(id, {
      id,
      name: `Improper ${pick(i, 0)} ${pick(i, 1)} handling`,
      description: `The product uses ${pick(i, 2)} from the ${pick(i, 3)} without a ${pick(i, 4)} of its ${pick(i, 5)}.`,
      mitigations: [{ description: `Validate the ${pick(i, 6)} before it reaches the ${pick(i, 7)}.` }],
      parents: [],
    });
  }
  return entries;
}

/** One record of the example fix pairs made new: a comment line after the vulnerable and the fixed function. */
function oneNewRecord(out: string): void {
  const file = readdirSync(examples).find((f) => f.endsWith('.jsonl')) as string;
  const record = JSON.parse(readFileSync(join(examples, file), 'utf8').split('\n')[0]) as Record<string, unknown>;
  const [before, after] = 'func_src_before' in record ? ['func_src_before', 'func_src_after'] : ['before', 'after'];
  const append = (code: unknown): string => `${String(code).replace(/\n?$/, '')}\n# a new copy\n`;
  writeFileSync(out, `${JSON.stringify({ ...record, [before]: append(record[before]), [after]: append(record[after]) })}\n`);
}

// With a catalogue big enough to hold the vocabulary, the embedder is fitted on the security
// knowledge alone: new records then keep the same model (and every unchanged vector), while the
// same sources still give the same version whatever the folder held before.
describe('buildKnowledgeBase: the embedder fitted on the security knowledge', () => {
  let work: string;
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'rescue-knowledge-fit-'));
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  // The local embedder, its fits counted.
  const { embedder, fits, embedded, reset } = countingEmbedder();
  const build = (kb: string, sources: string[], entries: number) => buildKnowledgeBase({ sources, kbDir: join(work, kb), ...SMALL_BUILD, catalog: catalogue(entries), embedder, sliceThreads: 0 });
  const params = (manifest: { embedder: Record<string, unknown> }): Record<string, unknown> => manifest.embedder.params as Record<string, unknown>;

  it('fits on the catalogue, keeps the model when records are added, and a fresh build of the same sources matches the rebuild', async () => {
    const extra = join(work, 'new-record.jsonl');
    oneNewRecord(extra);
    const first = await build('kb', [examples], MIN_KNOWLEDGE_FIT_DOCUMENTS);
    expect(params(first.manifest).corpusSize).toBe(MIN_KNOWLEDGE_FIT_DOCUMENTS);

    reset();
    const plus = await build('kb', [examples, extra], MIN_KNOWLEDGE_FIT_DOCUMENTS);
    // Read back from the first version, not fitted again; and of the examples, only the new
    // record's is embedded (the rest keep the first version's vectors), beside the nodes' causes
    // that the first version did not have (a cause embedded there keeps its vector).
    expect(fits()).toBe(0);
    const causes = async (version: string): Promise<string[]> => (await new KbDirectory(join(work, 'kb')).nodes(version)).map(causeText);
    const earlierCauses = new Set(await causes(first.manifest.version));
    const newCauses = (await causes(plus.manifest.version)).filter((t) => !earlierCauses.has(t));
    expect(newCauses.length).toBeLessThan(plus.manifest.counts.nodes / 2);
    expect(embedded()).toBe(newCauses.length + 1);
    expect(plus.manifest.counts.records).toBe(first.manifest.counts.records + 1);
    expect(plus.manifest.version).not.toBe(first.manifest.version);
    expect(params(plus.manifest).sha256).toBe(params(first.manifest).sha256);

    const fresh = await build('kb-fresh', [examples, extra], MIN_KNOWLEDGE_FIT_DOCUMENTS);
    expect(fits()).toBe(1);
    expect(fresh.manifest.version).toBe(plus.manifest.version);
    // The model written from the bytes read back is the one the fresh build serialized.
    const model = (kb: string, version: string): Buffer => readFileSync(join(new KbDirectory(join(work, kb)).versionDir(version), 'embedder.json'));
    expect(model('kb', plus.manifest.version).equals(model('kb-fresh', fresh.manifest.version))).toBe(true);
    // And the vectors kept are the ones the fresh build embedded: the same index snapshot, byte for byte.
    const files = (m: typeof plus.manifest): Record<string, string> => Object.fromEntries(Object.entries(m.checksums?.files ?? {}).filter(([f]) => !f.startsWith('lance/')));
    expect(files(plus.manifest)).toEqual(files(fresh.manifest));
    expect(files(plus.manifest)['memory-index.bin']).toEqual(expect.any(String));
  }, 180_000);

  it("embeds every example again when the earlier version's index snapshot is damaged", async () => {
    const extra = join(work, 'new-record-2.jsonl');
    oneNewRecord(extra);
    const first = await build('kb-damaged', [examples], MIN_KNOWLEDGE_FIT_DOCUMENTS);
    const snapshot = join(new KbDirectory(join(work, 'kb-damaged')).versionDir(first.manifest.version), 'memory-index.bin');
    const bytes = readFileSync(snapshot);
    bytes[bytes.length >> 1] ^= 0xff;
    writeFileSync(snapshot, bytes);
    reset();
    const plus = await build('kb-damaged', [examples, extra], MIN_KNOWLEDGE_FIT_DOCUMENTS);
    expect(fits()).toBe(0);
    expect(embedded()).toBe(plus.manifest.counts.nodes + plus.manifest.counts.examples);
    const fresh = await build('kb-damaged-fresh', [examples, extra], MIN_KNOWLEDGE_FIT_DOCUMENTS);
    expect(plus.manifest.checksums?.files['memory-index.bin']).toBe(fresh.manifest.checksums?.files['memory-index.bin']);
  }, 180_000);

  it('fits on the records and nodes when the catalogue is smaller than the bound', async () => {
    const small = await build('kb-small', [examples], MIN_KNOWLEDGE_FIT_DOCUMENTS - 1);
    expect(params(small.manifest).corpusSize).toBe(small.manifest.counts.nodes + small.manifest.counts.examples);
  }, 180_000);
});
