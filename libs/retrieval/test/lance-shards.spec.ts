import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type IndexedDocument, type IndexedExample, type IndexedNode, LanceKnowledgeIndex, MemoryKnowledgeIndex, lanceDb, searchText, shardRows } from '@rescue/retrieval';

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
  const nodes: IndexedNode[] = Array.from({ length: 30 }, (_, i) => ({
    id: `n${i}`,
    cwe: `CWE-${i}`,
    language: i % 3 === 0 ? '' : 'python',
    text: searchText(`${words[i % 10]} ${words[(i * 3) % 10]} weakness number${i}`),
    apiText: `api${i % 5} call${i % 7}`,
    docTerms: i % 3 === 0 ? searchText(`${words[i % 10]} doc${i}`) : '',
    causeVector: vec(i),
  }));
  const examples: IndexedExample[] = Array.from({ length: 60 }, (_, i) => ({
    id: `e${i}`,
    nodeId: `n${i % 30}`,
    cwe: `CWE-${i % 30}`,
    language: i % 4 === 0 ? 'java' : 'python',
    kind: i % 5 === 0 ? 'vulnerable' : 'fix',
    apiText: `api${i % 5} call${i % 7}`,
    codeText: searchText(`def f${i}(x): ${words[i % 10]}(x) ${words[(i * 7) % 10]}`),
    codeVector: vec(100 + i),
  }));
  const documents: IndexedDocument[] = Array.from({ length: 20 }, (_, i) => ({
    id: `d${i}`,
    kind: i % 2 === 0 ? 'codeql-help' : 'description',
    cwes: [`CWE-${i}`, `CWE-${i + 1}`],
    language: 'python',
    terms: searchText(`${words[i % 10]} help${i}`),
  }));

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rescue-shards-'));
    await LanceKnowledgeIndex.write(join(dir, 'one'), nodes, examples, documents);
    await LanceKnowledgeIndex.write(join(dir, 'many'), nodes, examples, documents, { maxRows: 7, maxBytes: 1 << 20 });
    await LanceKnowledgeIndex.write(join(dir, 'batched'), nodes, examples, documents, { maxRows: 1000, maxBytes: 1 << 20, batchRows: 7 });
    await LanceKnowledgeIndex.write(join(dir, 'batched-by-text'), nodes, examples, documents, { maxRows: 1000, maxBytes: 1 << 20, batchRows: 50, batchBytes: 400 });
  }, 60_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes several tables and counts every row once', async () => {
    expect(readdirSync(join(dir, 'many', 'lance')).filter((n) => n.startsWith('cwe_nodes')).length).toBe(5);
    expect(readdirSync(join(dir, 'many', 'lance')).filter((n) => n.startsWith('code_examples')).length).toBe(9);
    const many = await LanceKnowledgeIndex.open(join(dir, 'many'));
    expect(readdirSync(join(dir, 'many', 'lance')).filter((n) => n.startsWith('documents')).length).toBe(3);
    expect(await many.counts()).toEqual({ nodes: 30, examples: 60, documents: 20 });
  });

  // Each example's text: its API names and its code terms, as the write measures it.
  const exampleText = (e: IndexedExample): number => Buffer.byteLength(e.apiText) + Buffer.byteLength(e.codeText ?? '');
  it.each([
    // 60 examples, 7 rows a call: 9 data files.
    ['batched', 9],
    // A table of over 50 rows: at most 50 rows and 400 bytes of text a call.
    ['batched-by-text', shardRows(examples, exampleText, 50, 400).length],
  ])('holds and finds the same rows, in the same order, when a table is written a batch at a time (%s)', async (name, dataFiles) => {
    expect(dataFiles).toBeGreaterThan(2);
    const one = await LanceKnowledgeIndex.open(join(dir, 'one'));
    const batched = await LanceKnowledgeIndex.open(join(dir, name));
    // One table per collection (no shards), added to a batch at a time.
    expect(
      readdirSync(join(dir, name, 'lance'))
        .filter((n) => n.endsWith('.lance'))
        .sort(),
    ).toEqual(['code_examples.lance', 'cwe_nodes.lance', 'documents.lance']);
    expect(readdirSync(join(dir, name, 'lance', 'code_examples.lance', 'data'))).toHaveLength(dataFiles);
    const fields = { nodes: ['id', 'text', 'doc_terms', 'vector'], examples: ['id', 'node_id', 'kind', 'code_text', 'api_text', 'vector'], documents: ['id', 'cwes', 'terms'] } as const;
    for (const collection of ['nodes', 'examples', 'documents'] as const) {
      const rows = (await batched.scan(collection, [...fields[collection]])).map((r) => JSON.stringify({ ...r, vector: r.vector ? Array.from(r.vector as ArrayLike<number>) : undefined }));
      const expected = (await one.scan(collection, [...fields[collection]])).map((r) => JSON.stringify({ ...r, vector: r.vector ? Array.from(r.vector as ArrayLike<number>) : undefined }));
      expect(rows).toEqual(expected);
      expect(rows).toHaveLength({ nodes: 30, examples: 60, documents: 20 }[collection]);
    }
    for (const q of ['buffer length', 'query path command', 'def f56(x)']) {
      expect(await batched.searchText('examples', 'code_text', searchText(q), 20)).toEqual(await one.searchText('examples', 'code_text', searchText(q), 20));
      expect(await batched.searchText('nodes', 'text', searchText(q), 20, { language: 'python' })).toEqual(await one.searchText('nodes', 'text', searchText(q), 20, { language: 'python' }));
    }
    for (const seed of [3, 11]) expect(await batched.searchVector('examples', vec(seed + 0.5), 10, { kind: 'fix' })).toEqual(await one.searchVector('examples', vec(seed + 0.5), 10, { kind: 'fix' }));
  });

  it('finds the same nearest vectors with and without shards, filters applied in each shard', async () => {
    const one = await LanceKnowledgeIndex.open(join(dir, 'one'));
    const many = await LanceKnowledgeIndex.open(join(dir, 'many'));
    for (const seed of [3, 11, 42]) {
      const a = await one.searchVector('nodes', vec(seed + 0.5), 6, { language: 'python' });
      const b = await many.searchVector('nodes', vec(seed + 0.5), 6, { language: 'python' });
      expect(b.map((h) => h.id)).toEqual(a.map((h) => h.id));
      expect(b[0].score).toBeCloseTo(a[0].score, 5);
      // Language-filtered node searches keep the language-neutral nodes.
      expect(b.every((h) => h.language === 'python' || h.language === '')).toBe(true);
      const e = await many.searchVector('examples', vec(120), 4, { nodeIds: ['n20', 'n21', 'n5'] });
      expect(e.every((h) => ['e20', 'e21', 'e5', 'e50', 'e51', 'e35'].includes(h.id))).toBe(true);
      expect(e.every((h) => h.nodeId && ['n20', 'n21', 'n5'].includes(h.nodeId) && h.cwes?.length === 1)).toBe(true);
    }
  });

  it('searches text in every shard: each exact match is found wherever it was written', async () => {
    const many = await LanceKnowledgeIndex.open(join(dir, 'many'));
    const hits = await many.searchText('nodes', 'text', searchText('number27'), 3);
    expect(hits.map((h) => h.id)).toContain('n27');
    expect(hits[0].cwes).toEqual(['CWE-27']);
    const code = await many.searchText('examples', 'code_text', searchText('def f56(x)'), 10, { language: 'java' });
    expect(code.length).toBeGreaterThan(0);
    expect(code.every((h) => h.language === 'java')).toBe(true);
    const fixes = await many.searchText('examples', 'code_text', searchText('buffer length query path'), 60, { kind: 'fix' });
    expect(fixes.some((h) => h.id === 'e0' || h.id === 'e5')).toBe(false);
    expect((await many.searchText('examples', 'api_text', 'api3 call6', 60, { cwes: ['CWE-3', 'CWE-13'] })).every((h) => ['CWE-3', 'CWE-13'].includes(h.cwes?.[0] ?? ''))).toBe(true);
    const neutral = await many.searchText('nodes', 'doc_terms', searchText('buffer doc0 doc3'), 10, { neutral: true });
    expect(neutral.map((h) => h.id)).toEqual(expect.arrayContaining(['n0', 'n3']));
    expect(neutral.every((h) => h.language === '')).toBe(true);
    const docs = await many.searchText('documents', 'terms', searchText('help7'), 5, { kind: 'description' });
    expect(docs[0]).toMatchObject({ id: 'd7', cwes: ['CWE-7', 'CWE-8'] });
  });
  it('leaves a collection that is searched in memory without LanceDB indexes, and indexes one past the bound', async () => {
    // 20 documents, 30 nodes, 60 examples: a bound of 30 leaves documents and nodes unindexed.
    await LanceKnowledgeIndex.write(join(dir, 'partly'), nodes, examples, documents, undefined, 30);
    const db = await lanceDb().connect(join(dir, 'partly', 'lance'));
    try {
      const indexes = async (name: string): Promise<string[]> => {
        const table = await db.openTable(name);
        try {
          return (await table.listIndices()).flatMap((i) => i.columns).sort();
        } finally {
          table.close();
        }
      };
      expect(await indexes('documents')).toEqual([]);
      expect(await indexes('cwe_nodes')).toEqual([]);
      expect(await indexes('code_examples')).toEqual(['api_text', 'code_text', 'cwe', 'kind', 'language', 'node_id']);
    } finally {
      db.close();
    }
    // The rows are the same, and the collections without indexes are searched as a reader does
    // (in memory, from the rows): the same answers as from the fully indexed tables.
    const partly = new MemoryKnowledgeIndex(await LanceKnowledgeIndex.open(join(dir, 'partly')), 30);
    const one = new MemoryKnowledgeIndex(await LanceKnowledgeIndex.open(join(dir, 'one')), 30);
    for (const q of ['buffer length', 'query path command', 'def f56(x)']) {
      expect(await partly.searchText('examples', 'code_text', searchText(q), 20)).toEqual(await one.searchText('examples', 'code_text', searchText(q), 20));
      expect(await partly.searchText('nodes', 'text', searchText(q), 20, { language: 'python' })).toEqual(await one.searchText('nodes', 'text', searchText(q), 20, { language: 'python' }));
      expect(await partly.searchText('documents', 'terms', searchText(q), 5)).toEqual(await one.searchText('documents', 'terms', searchText(q), 5));
    }
  });
});

describe('MemoryKnowledgeIndex (small collections searched in memory)', () => {
  let dir: string;
  const vec = (seed: number): Float32Array => Float32Array.from({ length: 8 }, (_, j) => Math.sin(seed * 3.1 + j * 0.9));
  const words = ['buffer', 'length', 'query', 'path', 'command', 'yaml', 'escape', 'html', 'token', 'random', 'copy', 'format'];
  const nodes: IndexedNode[] = Array.from({ length: 40 }, (_, i) => ({
    id: `n${i}`,
    cwe: `CWE-${i}`,
    language: i % 4 === 0 ? '' : i % 4 === 1 ? 'python' : 'c',
    text: searchText(`${words[i % 12]} ${words[(i * 5) % 12]} ${words[(i * 7) % 12]} node${i}`),
    apiText: `api${i % 5}`,
    docTerms: searchText(`${words[i % 12]} ${words[(i * 3) % 12]} doc${i}`),
    causeVector: vec(i),
  }));
  const examples: IndexedExample[] = Array.from({ length: 80 }, (_, i) => ({
    id: `e${i}`,
    nodeId: `n${i % 40}`,
    cwe: `CWE-${i % 40}`,
    language: i % 3 === 0 ? 'java' : 'python',
    kind: i % 5 === 0 ? 'vulnerable' : 'fix',
    apiText: `api${i % 5} call${i % 7}`,
    codeText: searchText(`${words[i % 12]} ${words[(i * 7) % 12]} ${words[(i * 11) % 12]} f${i}`),
    codeVector: vec(50 + i),
  }));
  const documents: IndexedDocument[] = Array.from({ length: 30 }, (_, i) => ({
    id: `d${i}`,
    kind: i % 2 ? 'description' : 'codeql-help',
    cwes: [`CWE-${i}`],
    language: 'python',
    terms: searchText(`${words[i % 12]} ${words[(i * 5) % 12]} help${i}`),
  }));
  let lance: LanceKnowledgeIndex;
  let memory: MemoryKnowledgeIndex;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rescue-memory-'));
    await LanceKnowledgeIndex.write(dir, nodes, examples, documents);
    lance = await LanceKnowledgeIndex.open(dir);
    memory = new MemoryKnowledgeIndex(lance);
  }, 60_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('ranks like the LanceDB full-text index (BM25), filters alike, and carries what a hit needs', async () => {
    const queries: [Parameters<LanceKnowledgeIndex['searchText']>[0], Parameters<LanceKnowledgeIndex['searchText']>[1], string, Parameters<LanceKnowledgeIndex['searchText']>[4]][] = [
      ['nodes', 'doc_terms', searchText('buffer query copy'), { neutral: true }],
      ['nodes', 'text', searchText('html escape format'), { language: 'python' }],
      ['examples', 'code_text', searchText('yaml command token'), { kind: 'fix', language: 'java' }],
      ['examples', 'api_text', 'api3 call6', { cwes: ['CWE-3', 'CWE-13', 'CWE-23'] }],
      ['documents', 'terms', searchText('path random help7'), { kind: 'description' }],
    ];
    for (const [collection, field, q, filter] of queries) {
      const a = await lance.searchText(collection, field, q, 100, filter);
      const b = await memory.searchText(collection, field, q, 100, filter);
      // Same hits with the same scores (ties may come in another order).
      expect(b.map((h) => h.id).sort()).toEqual(a.map((h) => h.id).sort());
      const lanceById = new Map(a.map((h) => [h.id, h]));
      for (const h of b) {
        const l = lanceById.get(h.id)!;
        expect(h.score).toBeCloseTo(l.score, 3);
        expect(h).toMatchObject({ cwes: l.cwes, language: l.language });
      }
      b.slice(1).forEach((h, i) => expect(h.score).toBeLessThanOrEqual(b[i].score));
    }
  });

  it('finds the same nearest vectors, filtered by node', async () => {
    const a = await lance.searchVector('examples', vec(77), 5, { nodeIds: ['n1', 'n2', 'n3', 'n4'] });
    const b = await memory.searchVector('examples', vec(77), 5, { nodeIds: ['n1', 'n2', 'n3', 'n4'] });
    expect(b.map((h) => h.id)).toEqual(a.map((h) => h.id));
    expect(b[0].score).toBeCloseTo(a[0].score, 4);
    expect(await memory.counts()).toEqual({ nodes: 40, examples: 80, documents: 30 });
  });

  it('leaves collections over its size limit to the backend', async () => {
    const tiny = new MemoryKnowledgeIndex(lance, 10);
    const q = searchText('buffer query copy');
    expect(await tiny.searchText('examples', 'code_text', q, 5)).toEqual(await lance.searchText('examples', 'code_text', q, 5));
  });
});

describe('LanceDB native logging', () => {
  // The native module reads LANCEDB_LOG once, when it loads: each case needs a process of its own,
  // run on the compiled code (`npm test` builds first).
  const root = join(__dirname, '../../..');
  const script = `
    const { lanceDb } = require(${JSON.stringify(join(root, 'dist/libs/retrieval/src'))});
    (async () => {
      const db = await lanceDb().connect(process.argv[1]);
      // Overwrite mode on a new table: LanceDB's "no existing dataset, it will be created" notice.
      await db.createTable('t', [{ id: 'a', n: 1 }], { mode: 'overwrite' });
      // Its log lines are written from a native thread: give them time to arrive before exiting.
      await new Promise((resolve) => setTimeout(resolve, 500));
    })().catch((e) => { console.error('FAILED', e); process.exit(1); });`;
  const run = (env: NodeJS.ProcessEnv): { status: number | null; stderr: string } => {
    const dir = mkdtempSync(join(tmpdir(), 'rescue-lance-log-'));
    try {
      const r = spawnSync(process.execPath, ['-e', script, join(dir, 'db')], { env, encoding: 'utf8' });
      return { status: r.status, stderr: r.stderr };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  it('keeps its notices off stderr by default in every process that loads it, and LANCEDB_LOG still turns them on', () => {
    const { LANCEDB_LOG: _unset, ...env } = process.env;
    const quiet = run(env);
    expect(quiet.status).toBe(0);
    expect(quiet.stderr).not.toMatch(/WARN|INFO/);
    const asked = run({ ...env, LANCEDB_LOG: 'warn' });
    expect(asked.status).toBe(0);
    expect(asked.stderr).toMatch(/WARN .*No existing dataset/);
  });
});
