import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type IndexedExample, type IndexedNode, LanceKnowledgeIndex, shardRows } from '@rescue/retrieval';

describe('shardRows', () => {
  it('closes a shard at the row budget or before the text budget is passed, keeping order', () => {
    const rows = Array.from({ length: 10 }, (_, i) => ({ i, size: i === 4 ? 50 : 10 }));
    const shards = shardRows(rows, (r) => r.size, 3, 40);
    expect(shards.map((s) => s.map((r) => r.i))).toEqual([[0, 1, 2], [3], [4], [5, 6, 7], [8, 9]]);
    expect(shardRows([], () => 1)).toEqual([[]]);
  });
});

describe('LanceKnowledgeIndex over shards', () => {
  let dir: string;
  const vec = (seed: number): Float32Array => Float32Array.from({ length: 8 }, (_, j) => Math.sin(seed * 7.3 + j * 1.7));
  const words = ['buffer', 'length', 'query', 'path', 'command', 'yaml', 'escape', 'html', 'token', 'random'];
  const nodes: IndexedNode[] = Array.from({ length: 30 }, (_, i) => ({ id: `n${i}`, cwe: `CWE-${i}`, language: i % 3 === 0 ? '' : 'python', text: `${words[i % 10]} ${words[(i * 3) % 10]} weakness number ${i}`, apiText: `api${i % 5} call${i % 7}`, causeVector: vec(i) }));
  const examples: IndexedExample[] = Array.from({ length: 60 }, (_, i) => ({ id: `e${i}`, nodeId: `n${i % 30}`, cwe: `CWE-${i % 30}`, language: 'python', apiText: `api${i % 5} call${i % 7}`, codeText: `def f${i}(x): ${words[i % 10]}(x) ${words[(i * 7) % 10]}`, codeVector: vec(100 + i) }));

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rescue-shards-'));
    await LanceKnowledgeIndex.write(join(dir, 'one'), nodes, examples);
    await LanceKnowledgeIndex.write(join(dir, 'many'), nodes, examples, { maxRows: 7, maxBytes: 1 << 20 });
  }, 60_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes several tables and counts every row once', async () => {
    expect(readdirSync(join(dir, 'many', 'lance')).filter((n) => n.startsWith('cwe_nodes')).length).toBe(5);
    expect(readdirSync(join(dir, 'many', 'lance')).filter((n) => n.startsWith('code_examples')).length).toBe(9);
    const many = await LanceKnowledgeIndex.open(join(dir, 'many'));
    expect(await many.counts()).toEqual({ nodes: 30, examples: 60 });
  });

  it('finds the same nearest vectors with and without shards, filters applied in each shard', async () => {
    const one = await LanceKnowledgeIndex.open(join(dir, 'one'));
    const many = await LanceKnowledgeIndex.open(join(dir, 'many'));
    for (const seed of [3, 11, 42]) {
      const a = await one.searchNodesVector(vec(seed + 0.5), 6, { language: 'python' });
      const b = await many.searchNodesVector(vec(seed + 0.5), 6, { language: 'python' });
      expect(b.map((h) => h.id)).toEqual(a.map((h) => h.id));
      expect(b[0].score).toBeCloseTo(a[0].score, 5);
      const e = await many.searchExamplesVector(vec(120), 4, { nodeIds: ['n20', 'n21', 'n5'] });
      expect(e.every((h) => ['e20', 'e21', 'e5', 'e50', 'e51', 'e35'].includes(h.id))).toBe(true);
    }
  });

  it('searches text in every shard: each exact match is found wherever it was written', async () => {
    const many = await LanceKnowledgeIndex.open(join(dir, 'many'));
    const hits = await many.searchNodesText('number 27', 'text', 3);
    expect(hits.map((h) => h.id)).toContain('n27');
    const byCode = await many.searchNodesByExampleCode('def f59 x', 10, { language: 'python' });
    expect(byCode[0].id).toBe('n29');
    expect(new Set(byCode.map((h) => h.id)).size).toBe(byCode.length);
    expect((await many.searchExamplesApi('api3 call6', 60)).length).toBeGreaterThan(0);
  });
});
