import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { KbDirectory, type BuildEmbedder } from '@rescue/knowledge';
import { buildKnowledgeBase } from '@rescue/pipeline';
import { LanceKnowledgeIndex, MemoryKnowledgeIndex, searchText } from '@rescue/retrieval';
import { bagOfWordsEmbedder } from '@rescue/testing';
import { SMALL_BUILD } from './small-build';

const examples = resolve(__dirname, '../../../examples/fix-pairs');

const testEmbedder = (): BuildEmbedder => bagOfWordsEmbedder();

describe('buildKnowledgeBase (embedded, extractive)', () => {
  let kbDir: string;
  beforeEach(() => {
    kbDir = mkdtempSync(join(tmpdir(), 'rescue-kb-'));
  });
  afterEach(() => rmSync(kbDir, { recursive: true, force: true }));

  // The example datasets are vouched for here, so their descriptions may be quoted (fix-pair
  // sources are untrusted by default, and an untrusted description is never quoted).
  const build = (sources: string[], trusted = sources) =>
    buildKnowledgeBase({
      sources,
      kbDir,
      ...SMALL_BUILD,
      embedder: async () => testEmbedder(),
      trust: { trusted, untrusted: [] },
    });

  it('publishes a version whose nodes, examples and index agree, and a rebuild re-slices nothing', async () => {
    const first = await build([examples]);
    expect(first.slicing).toEqual({ sliced: 15, failed: 0, reused: 0, threads: 0 });
    const dir = new KbDirectory(kbDir);
    expect(await dir.current()).toBe(first.manifest.version);
    const nodes = await dir.nodes();
    const exampleDocs = await dir.examples();
    expect(exampleDocs).toHaveLength(15);
    expect(nodes.map((n) => n.id)).toContain('python:CWE-89');
    const sql = nodes.find((n) => n.id === 'python:CWE-89');
    expect(sql?.apiNames).toEqual(expect.arrayContaining(['cur.execute', 'execute']));
    // No catalogue and no commit messages in the examples: the cause comes from the (trusted) descriptions.
    expect(sql?.provenance).toEqual({ mode: 'extractive', sources: ['descriptions'] });

    // Every CWE with data also has its language-neutral node, which CWE-level retrieval ranks.
    expect(
      nodes
        .filter((n) => n.id.startsWith('any:'))
        .map((n) => n.cwe)
        .sort(),
    ).toEqual([...new Set(nodes.filter((n) => n.language).map((n) => n.cwe))].sort());
    const documents = await dir.documents();
    expect(documents.every((d) => d.kind === 'description')).toBe(true);
    expect(documents.length).toBeGreaterThan(0);

    // Searched as a reader without the version's snapshot would: in memory, from the tables' rows
    // (the tables of a KB this small carry no LanceDB indexes of their own).
    const index = new MemoryKnowledgeIndex(await LanceKnowledgeIndex.open(dir.versionDir(first.manifest.version)));
    expect(await index.counts()).toEqual({ nodes: nodes.length, examples: 15, documents: documents.length });
    const apiHits = await index.searchText('nodes', 'api_text', 'subprocess run', 3);
    expect(apiHits[0]?.id).toBe('python:CWE-78');
    const goOnly = await index.searchText('nodes', 'api_text', 'execute', 10, { language: 'go' });
    expect(goOnly.every((h) => h.id.startsWith('go:') || h.id.startsWith('any:'))).toBe(true);
    const exampleHits = await index.searchText('examples', 'api_text', 'strncpy', 3, { nodeIds: ['c:CWE-787'] });
    expect(exampleHits).toHaveLength(1);
    // The examples facet's search: the whole fix's terms, grouped by CWE by the retriever.
    const byCode = await index.searchText('examples', 'code_text', searchText('void copy(struct rec *r) { strcpy(r->label, label); }'), 5, { language: 'c' });
    expect(byCode[0]?.cwes).toEqual(['CWE-787']);
    const cweLevel = await index.searchText('nodes', 'doc_terms', searchText('strcpy label buffer'), 5, { neutral: true });
    expect(cweLevel[0]?.id).toBe('any:CWE-787');

    const second = await build([examples]);
    expect(second.slicing).toEqual({ sliced: 0, failed: 0, reused: 15, threads: 0 });
    expect(second.manifest.version).toBe(first.manifest.version);
  });

  it('adding records slices only the new ones and publishes a new version', async () => {
    const first = await build([examples]);
    const extra = join(kbDir, 'extra.jsonl');
    writeFileSync(
      extra,
      `${JSON.stringify({ language: 'python', cwe: 'CWE-79', before: 'def page(n):\n    return "<b>" + n + "</b>"\n', after: 'def page(n):\n    return "<b>" + html.escape(n) + "</b>"\n' })}\n`,
    );
    const second = await build([examples, extra]);
    expect(second.slicing).toEqual({ sliced: 1, failed: 0, reused: 15, threads: 0 });
    expect(second.manifest.version).not.toBe(first.manifest.version);
    expect(readFileSync(join(kbDir, 'CURRENT'), 'utf8').trim()).toBe(second.manifest.version);
  });

  it('quotes no description from a fix-pair source nobody vouched for (the default)', async () => {
    await build([examples], []);
    const nodes = await new KbDirectory(kbDir).nodes();
    const sql = nodes.find((n) => n.id === 'python:CWE-89');
    expect(sql?.provenance).toEqual({ mode: 'extractive', sources: [] });
    expect(sql?.cause).toMatch(/^Code fixed for CWE-89/);
  });
});
