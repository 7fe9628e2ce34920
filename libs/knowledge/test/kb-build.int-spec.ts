import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { KbDirectory, type BuildEmbedder, buildKnowledgeBase } from '@rescue/knowledge';
import { LanceKnowledgeIndex } from '@rescue/retrieval';

const examples = resolve(__dirname, '../../../examples/fix-pairs');

/** A tiny deterministic bag-of-words embedder, enough to exercise the index without the real one. */
function testEmbedder(): BuildEmbedder {
  const dims = 32;
  const embed = (t: string): Float32Array => {
    const v = new Float32Array(dims);
    for (const w of t.toLowerCase().match(/[a-z_]+/g) ?? []) {
      let h = 0;
      for (const ch of w) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
      v[h % dims] += 1;
    }
    const n = Math.hypot(...v) || 1;
    return v.map((x) => x / n);
  };
  return { describe: () => ({ id: 'test-bow', dimensions: dims }), embed: async (texts) => texts.map(embed) };
}

describe('buildKnowledgeBase (embedded, extractive)', () => {
  let kbDir: string;
  beforeEach(() => {
    kbDir = mkdtempSync(join(tmpdir(), 'rescue-kb-'));
  });
  afterEach(() => rmSync(kbDir, { recursive: true, force: true }));

  const build = (sources: string[]) =>
    buildKnowledgeBase({ sources, kbDir, catalog: new Map(), clusterBy: 'language-cwe', catalogOnlyNodes: false, hops: 2, maxLineBytes: 1 << 20, embedder: async () => testEmbedder() });

  it('publishes a version whose nodes, examples and index agree, and a rebuild re-slices nothing', async () => {
    const first = await build([examples]);
    expect(first.slicing).toEqual({ sliced: 15, failed: 0, reused: 0 });
    const dir = new KbDirectory(kbDir);
    expect(await dir.current()).toBe(first.manifest.version);
    const nodes = await dir.nodes();
    const exampleDocs = await dir.examples();
    expect(exampleDocs).toHaveLength(15);
    expect(nodes.map((n) => n.id)).toContain('python:CWE-89');
    const sql = nodes.find((n) => n.id === 'python:CWE-89');
    expect(sql?.apiNames).toEqual(expect.arrayContaining(['cur.execute', 'execute']));
    // No catalogue and no commit messages in the examples: the cause comes from the descriptions.
    expect(sql?.provenance).toEqual({ mode: 'extractive', sources: ['descriptions'] });

    const index = await LanceKnowledgeIndex.open(dir.versionDir(first.manifest.version));
    expect(await index.counts()).toEqual({ nodes: nodes.length, examples: 15 });
    const apiHits = await index.searchNodesText('subprocess run', 'api_text', 3);
    expect(apiHits[0]?.id).toBe('python:CWE-78');
    const pyOnly = await index.searchNodesText('execute', 'api_text', 10, { language: 'go' });
    expect(pyOnly.every((h) => h.id.startsWith('go:'))).toBe(true);
    const exampleHits = await index.searchExamplesApi('strncpy', 3, { nodeIds: ['c:CWE-787'] });
    expect(exampleHits).toHaveLength(1);
    const byCode = await index.searchNodesByExampleCode('void copy(struct rec *r) { strcpy(r->label, label); }', 5, { language: 'c' });
    expect(byCode[0]?.id).toBe('c:CWE-787');
    expect(new Set(byCode.map((h) => h.id)).size).toBe(byCode.length);

    const second = await build([examples]);
    expect(second.slicing).toEqual({ sliced: 0, failed: 0, reused: 15 });
    expect(second.manifest.version).toBe(first.manifest.version);
  });

  it('adding records slices only the new ones and publishes a new version', async () => {
    const first = await build([examples]);
    const extra = join(kbDir, 'extra.jsonl');
    writeFileSync(extra, `${JSON.stringify({ language: 'python', cwe: 'CWE-79', before: 'def page(n):\n    return "<b>" + n + "</b>"\n', after: 'def page(n):\n    return "<b>" + html.escape(n) + "</b>"\n' })}\n`);
    const second = await build([examples, extra]);
    expect(second.slicing).toEqual({ sliced: 1, failed: 0, reused: 15 });
    expect(second.manifest.version).not.toBe(first.manifest.version);
    expect(readFileSync(join(kbDir, 'CURRENT'), 'utf8').trim()).toBe(second.manifest.version);
  });
});
