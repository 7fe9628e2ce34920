import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { readCweCatalog } from '@rescue/datasets';
import { KbDirectory, buildKnowledgeBase, localEmbedder } from '@rescue/knowledge';
import { LanceKnowledgeIndex } from '@rescue/retrieval';

// The embedded build (no LLM) of all the third-party fix pairs plus the MITRE catalogue, read in place.
const SHARED = resolve(__dirname, '../../../../shared/data');
const present = existsSync(join(SHARED, 'kb-source')) && existsSync(join(SHARED, 'cwe', 'cwe-1000-research-view.csv'));
if (!present) process.stdout.write(`shared-data KB build test skipped: ${SHARED} (kb-source and cwe) does not exist (third-party data lives beside the repo)\n`);

(present ? describe : describe.skip)('embedded KB build of ../shared/data/kb-source + the CWE catalogue', () => {
  let kbDir: string;
  afterAll(() => rmSync(kbDir, { recursive: true, force: true }));

  it('publishes nodes with guidelines, causes and sliced secure examples, and catalogue-only nodes for unseen CWEs', async () => {
    kbDir = mkdtempSync(join(tmpdir(), 'rescue-kb-shared-'));
    const catalog = await readCweCatalog(join(SHARED, 'cwe', 'cwe-1000-research-view.csv'));
    const report = await buildKnowledgeBase({ sources: [join(SHARED, 'kb-source')], kbDir, catalog, clusterBy: 'language-cwe', catalogOnlyNodes: true, hops: 2, maxLineBytes: 8 << 20, embedder: localEmbedder });
    expect(report.manifest.counts.records).toBe(report.ingest.kept);
    expect(report.slicing.sliced + report.slicing.failed).toBe(report.ingest.kept);
    const dir = new KbDirectory(kbDir);
    const nodes = await dir.nodes();
    const sql = nodes.find((n) => n.id === 'python:CWE-89');
    expect(sql?.name).toContain('SQL');
    expect(sql?.guidelines.length).toBeGreaterThan(2);
    expect(sql?.cause).toMatch(/SQL/);
    expect(sql?.exampleIds.length).toBeGreaterThan(100);
    const examples = new Map((await dir.examples()).map((e) => [e.id, e]));
    const first = examples.get(sql?.exampleIds[0] as string);
    expect(first?.slicedSecure.length).toBeGreaterThan(0);
    // CWE-1336 (template injection) has no fix data here: it is a catalogue-only node.
    const unseen = nodes.find((n) => n.cwe === 'CWE-1336');
    expect(unseen?.provenance).toEqual({ mode: 'catalog-only' });
    const index = await LanceKnowledgeIndex.open(dir.versionDir(report.manifest.version));
    const hits = await index.searchNodesText('sql injection query', 'text', 5, { language: 'python' });
    expect(hits.map((h) => h.id)).toContain('python:CWE-89');
  }, 120_000);
});
