import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { readCweCatalog, readTaskLines } from '@rescue/datasets';
import { localEmbedder, offlineQuery, openKnowledgeBase } from '@rescue/knowledge';
import { buildKnowledgeBase } from '@rescue/pipeline';
import { Slicer } from '@rescue/slicing';

// Speed work on retrieval (compact postings, pruning, cached norms) must change nothing it
// returns. This pins, for our own example KB and our own task fixtures, every query's ranked
// CWEs with their exact scores, each facet's CWE ranking, the code level's hits and the chosen
// example, as the code before that work produced them (fixtures/example-kb-retrieval.json).
// Regenerate only from code whose retrieval is known to be right:
//   RESCUE_PIN_RETRIEVAL=write npx jest libs/retrieval/test/retrieval-pinned.int-spec.ts

const root = resolve(__dirname, '../../..');
const fixture = join(__dirname, 'fixtures', 'example-kb-retrieval.json');
const taskFiles = [join(root, 'examples/tasks-sample.jsonl'), join(root, 'libs/evaluation/data/security-tasks.jsonl'), join(root, 'libs/retrieval/data/ordinary-tasks.jsonl')];

interface Pinned {
  version: string;
  results: Record<string, unknown>;
}

describe('retrieval on the example KB is pinned', () => {
  let work: string;
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'rescue-pinned-'));
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('returns the same ranked CWEs, facet rankings, code hits and example for every task as the pinned run', async () => {
    const kbDir = join(work, 'kb');
    const catalog = await readCweCatalog(join(root, 'examples/cwe-catalog-sample.csv'));
    const built = await buildKnowledgeBase({
      sources: [join(root, 'examples/fix-pairs')],
      kbDir,
      catalog,
      clusterBy: 'language-cwe',
      catalogOnlyNodes: true,
      hops: 2,
      maxLineBytes: 1 << 20,
      embedder: localEmbedder,
    });
    const kb = await openKnowledgeBase(kbDir);
    const slicer = await Slicer.create();
    const results: Record<string, unknown> = {};
    for (const file of taskFiles) {
      for await (const task of readTaskLines(file, (p) => {
        throw new Error(`${p.file}:${p.line}: ${p.message}`);
      })) {
        const r = await kb.retriever.retrieve(await offlineQuery(task, slicer));
        results[task.id] = {
          abstained: r.abstained,
          cwes: r.cwes.map((c) => [c.id, c.cwe, c.score]),
          example: r.example ? [r.example.id, r.example.score] : null,
          facets: r.rankings.cwe.map((f) => [f.name, f.hits.map((h) => [h.cwe, h.score])]),
          code: r.rankings.code.map((f) => [f.name, f.hits.map((h) => [h.id, h.score])]),
        };
      }
    }
    const now: Pinned = { version: built.manifest.version, results };
    if (process.env.RESCUE_PIN_RETRIEVAL === 'write')
      writeFileSync(
        fixture,
        `{"version": ${JSON.stringify(now.version)}, "results": {\n${Object.entries(results)
          .map(([id, r]) => `${JSON.stringify(id)}: ${JSON.stringify(r)}`)
          .join(',\n')}\n}}\n`,
      );
    expect(existsSync(fixture)).toBe(true);
    const pinned = JSON.parse(readFileSync(fixture, 'utf8')) as Pinned;
    // A different version means the KB build changed, not retrieval: say so rather than diff every score.
    if (pinned.version !== now.version)
      throw new Error(
        `the example KB now builds as ${now.version}, the pin was made on ${pinned.version}: the build changed; re-pin (see the header) from a commit whose retrieval is known to be right`,
      );
    expect(Object.keys(now.results)).toEqual(Object.keys(pinned.results));
    for (const id of Object.keys(pinned.results)) expect([id, now.results[id]]).toEqual([id, pinned.results[id]]);
  }, 120_000);
});
