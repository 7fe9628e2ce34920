import { existsSync, readFileSync, rmSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { readCweCatalog, readTaskLines } from '@rescue/datasets';
import { KbDirectory, type OpenOptions, fitDefaultGate, gateCachePath, localEmbedder, offlineQuery, openKnowledgeBase } from '@rescue/knowledge';
import { buildKnowledgeBase } from '@rescue/pipeline';
import type { TermCounts } from '@rescue/retrieval';
import { Slicer } from '@rescue/slicing';

// A publish caches the version's default relevance gate beside it, and an open reads it instead of
// fitting it: every task must be answered exactly as with the gate fitted at open, and a damaged
// cache must change nothing but a message.

const root = resolve(__dirname, '../../..');

describe("a KB version's cached relevance gate", () => {
  let work: string;
  let kbDir: string;
  let version: string;
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'rescue-kb-gate-cache-'));
    kbDir = join(work, 'kb');
    const built = await buildKnowledgeBase({
      sources: [join(root, 'examples/fix-pairs')],
      kbDir,
      catalog: await readCweCatalog(join(root, 'examples/cwe-catalog-sample.csv')),
      clusterBy: 'language-cwe',
      catalogOnlyNodes: true,
      hops: 2,
      maxLineBytes: 1 << 20,
      embedder: localEmbedder,
    });
    version = built.manifest.version;
  }, 120_000);
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  /** Every sample task's retrieval result (but how long it took), with the KB opened with `options`. */
  async function retrieveAll(options: OpenOptions): Promise<unknown[]> {
    const kb = await openKnowledgeBase(kbDir, options);
    const slicer = await Slicer.create();
    const results: unknown[] = [];
    for await (const task of readTaskLines(join(root, 'examples/tasks-sample.jsonl'), (p) => {
      throw new Error(`${p.file}:${p.line}: ${p.message}`);
    }))
      results.push({ ...(await kb.retriever.retrieve(await offlineQuery(task, slicer))), timings: undefined });
    return results;
  }

  it('is written by the publish, outside the checksummed version folder', async () => {
    expect(existsSync(gateCachePath(kbDir, version))).toBe(true);
    expect((await new KbDirectory(kbDir).verify()).ok).toBe(true);
  });

  it('answers every task as the gate fitted at open does, and a damaged one changes nothing but a message', async () => {
    const termCounts = JSON.parse(readFileSync(join(new KbDirectory(kbDir).versionDir(version), 'term-counts.json'), 'utf8')) as TermCounts;
    const notices: string[] = [];
    const onGateCacheProblem = (m: string): void => void notices.push(m);
    const fitted = await retrieveAll({ gate: fitDefaultGate(termCounts), onGateCacheProblem });
    expect(fitted.length).toBeGreaterThan(0);
    expect(await retrieveAll({ onGateCacheProblem })).toEqual(fitted);
    expect(notices).toEqual([]);
    writeFileSync(gateCachePath(kbDir, version), '{"format":"rescue-gate-cache-1"');
    expect(await retrieveAll({ onGateCacheProblem })).toEqual(fitted);
    expect(notices).toHaveLength(1);
    expect(notices[0]).toContain('is damaged');
    // Replaced: the next open reads it again without a word.
    expect(await retrieveAll({ onGateCacheProblem })).toEqual(fitted);
    expect(notices).toHaveLength(1);
  }, 60_000);
});
