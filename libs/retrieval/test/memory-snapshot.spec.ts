import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NotFoundError } from '@rescue/domain';
import {
  type IndexedDocument,
  type IndexedExample,
  type IndexedNode,
  type KnowledgeIndexReader,
  LanceKnowledgeIndex,
  MEMORY_INDEX_FORMAT_VERSION,
  MemoryIndexSnapshotError,
  MemoryKnowledgeIndex,
  type RowSource,
  type SearchCollection,
  type SearchFilter,
  type TextField,
  WrittenRows,
  readMemoryIndexSnapshot,
  searchText,
  writeMemoryIndexSnapshot,
} from '@rescue/retrieval';

// The snapshot must answer exactly (bit for bit, ties in the same order) as the in-memory index a
// reader builds from the version's LanceDB tables: it replaces that build when a KB is opened.

const vec = (seed: number): Float32Array => Float32Array.from({ length: 8 }, (_, j) => Math.sin(seed * 7.3 + j * 1.7));
const words = ['buffer', 'length', 'query', 'path', 'command', 'yaml', 'escape', 'html', 'token', 'random', 'copy', 'format'];
const nodes: IndexedNode[] = Array.from({ length: 40 }, (_, i) => ({
  id: `n${i}`,
  cwe: `CWE-${i}`,
  language: i % 4 === 0 ? '' : 'python',
  text: searchText(`${words[i % 12]} ${words[(i * 5) % 12]} weakness ${i}`),
  // Some rows with no API names: stored as ' ', read back as no terms.
  apiText: i % 6 === 0 ? '' : `api${i % 5} call${i % 7}`,
  docTerms: i % 4 === 0 ? searchText(`${words[i % 12]} ${words[(i * 7) % 12]} ${words[(i * 3) % 12]} doc${i}`) : '',
  catalogTerms: i % 4 === 0 ? searchText(`${words[(i * 11) % 12]} catalog`) : undefined,
  causeVector: i === 5 ? new Float32Array(8) : vec(i),
}));
const examples: IndexedExample[] = Array.from({ length: 80 }, (_, i) => ({
  id: `e${i}`,
  nodeId: `n${i % 40}`,
  cwe: `CWE-${i % 40}`,
  language: i % 3 === 0 ? 'java' : 'python',
  kind: i % 5 === 0 ? 'vulnerable' : undefined,
  apiText: `api${i % 5} call${i % 7}`,
  codeText: searchText(`${words[i % 12]} ${words[(i * 7) % 12]} ${words[(i * 11) % 12]} f${i}`),
  codeVector: vec(50 + i),
}));
const documents: IndexedDocument[] = Array.from({ length: 30 }, (_, i) => ({
  id: `d${i}`,
  kind: i % 2 ? 'description' : 'codeql-help',
  cwes: i % 3 === 0 ? [`CWE-${i}`, `CWE-${i + 1}`] : [`CWE-${i}`],
  language: i % 4 === 0 ? undefined : 'python',
  terms: searchText(`${words[i % 12]} ${words[(i * 5) % 12]} help${i}`),
}));
const knowledge = { nodes, examples, documents };
// Small shards: over ten tables per collection, so LanceDB lists `__10` before `__2`.
const budget = { maxRows: 7, maxBytes: 1 << 20 };

/** A backend that must not be asked: everything comes from the snapshot. */
const untouchable: KnowledgeIndexReader & RowSource = {
  searchText: () => Promise.reject(new Error('backend searched')),
  searchVector: () => Promise.reject(new Error('backend searched')),
  counts: () => Promise.reject(new Error('backend counted')),
  scan: () => Promise.reject(new Error('backend scanned')),
};

const textQueries: [SearchCollection, TextField, string, SearchFilter | undefined][] = [
  ['nodes', 'text', searchText('html escape format weakness'), { language: 'python' }],
  ['nodes', 'api_text', 'api3 call6 api1', undefined],
  ['nodes', 'doc_terms', searchText('buffer query copy doc8'), { neutral: true }],
  ['nodes', 'catalog_terms', searchText('token catalog'), undefined],
  ['examples', 'code_text', searchText('yaml command token'), { kind: 'fix', language: 'java' }],
  ['examples', 'code_text', searchText('path random'), { nodeIds: ['n1', 'n2', 'n3'] }],
  ['examples', 'api_text', 'api3 call6', { cwes: ['CWE-3', 'CWE-13', 'CWE-23'] }],
  ['documents', 'terms', searchText('path random help7 copy'), { kind: 'description' }],
  ['documents', 'terms', searchText('length escape'), { cwe: 'CWE-4' }],
];

async function answers(index: KnowledgeIndexReader): Promise<unknown[]> {
  const out: unknown[] = [];
  for (const [collection, field, q, filter] of textQueries) out.push(await index.searchText(collection, field, q, 100, filter));
  out.push(await index.searchVector('nodes', vec(3), 10, { language: 'python' }));
  out.push(await index.searchVector('examples', vec(77), 100));
  out.push(await index.searchVector('examples', vec(12), 5, { nodeIds: ['n1', 'n2', 'n3', 'n4'] }));
  out.push(await index.counts());
  return out;
}

describe('memory index snapshot', () => {
  let dir: string;
  let lance: LanceKnowledgeIndex;
  let snapshot: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rescue-snapshot-'));
    await LanceKnowledgeIndex.write(dir, nodes, examples, documents, budget);
    lance = await LanceKnowledgeIndex.open(dir);
    snapshot = join(dir, 'memory-index.bin');
    await writeMemoryIndexSnapshot(snapshot, new WrittenRows(knowledge, budget));
  }, 60_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('holds, from the rows a publish writes, exactly what a reader builds from the tables', async () => {
    const fromTables = join(dir, 'from-tables.bin');
    await writeMemoryIndexSnapshot(fromTables, lance);
    expect(readFileSync(fromTables).equals(readFileSync(snapshot))).toBe(true);
  });

  it('answers every search as the index built from the LanceDB tables, without asking the backend', async () => {
    const prebuilt = await readMemoryIndexSnapshot(snapshot);
    expect(prebuilt).toBeDefined();
    const fromSnapshot = await answers(new MemoryKnowledgeIndex(untouchable, undefined, prebuilt));
    const fromTables = await answers(new MemoryKnowledgeIndex(lance));
    expect(fromSnapshot).toEqual(fromTables);
    expect((fromSnapshot[0] as unknown[]).length).toBeGreaterThan(0);
  });

  it('leaves collections over the row limit out, and the index loads those from the backend', async () => {
    const partial = join(dir, 'partial.bin');
    await writeMemoryIndexSnapshot(partial, lance, 50);
    const prebuilt = await readMemoryIndexSnapshot(partial);
    expect(prebuilt?.text('examples', 'code_text')).toBeUndefined();
    expect(prebuilt?.vectors('examples')).toBeUndefined();
    expect(prebuilt?.text('nodes', 'text')).toBeDefined();
    expect(await answers(new MemoryKnowledgeIndex(lance, 50, prebuilt))).toEqual(await answers(new MemoryKnowledgeIndex(lance, 50)));
  });

  it('is ignored when written for another format version (undefined: the tables are read instead)', async () => {
    const other = join(dir, 'other-version.bin');
    const bytes = readFileSync(snapshot);
    const current = `"version":${MEMORY_INDEX_FORMAT_VERSION},`;
    const at = bytes.lastIndexOf(current);
    expect(at).toBeGreaterThan(0);
    const next = `"version":${MEMORY_INDEX_FORMAT_VERSION + 1},`;
    expect(next.length).toBe(current.length);
    bytes.write(next, at, 'latin1');
    writeFileSync(other, bytes);
    expect(await readMemoryIndexSnapshot(other)).toBeUndefined();
  });

  it('names the file when it is damaged or missing', async () => {
    const truncated = join(dir, 'truncated.bin');
    writeFileSync(truncated, readFileSync(snapshot).subarray(0, 1000));
    await expect(readMemoryIndexSnapshot(truncated)).rejects.toThrow(MemoryIndexSnapshotError);
    await expect(readMemoryIndexSnapshot(truncated)).rejects.toThrow(`${truncated} is not a memory index snapshot, or is truncated`);

    // A section made to lie about its size (the first: nodes, text) is caught when it is decoded, before any search.
    const lying = join(dir, 'lying.bin');
    const bytes = readFileSync(snapshot);
    const at = bytes.indexOf('"docNorm":{"kind":"f64","offset":');
    const header = bytes.toString('latin1', at);
    const length = /"length":(\d+)/.exec(header);
    if (!length) throw new Error('no docNorm length in the header');
    const digits = length[1];
    bytes.write(String(Number(digits) - 1).padStart(digits.length, '0'), at + header.indexOf(`"length":${digits}`) + '"length":'.length, 'latin1');
    writeFileSync(lying, bytes);
    const prebuilt = await readMemoryIndexSnapshot(lying);
    expect(() => prebuilt?.text('nodes', 'text')).toThrow(`${lying} has nodes text document norms of`);

    // Term ids that are not a permutation (one id twice) would send a query term to another's postings.
    const repeated = join(dir, 'repeated-id.bin');
    const file = readFileSync(snapshot);
    const trailer = file.length - 24;
    const layout = JSON.parse(file.toString('utf8', file.readDoubleLE(trailer), file.readDoubleLE(trailer) + file.readDoubleLE(trailer + 8))) as {
      collections: { nodes: { text: { text: { sortedIds: { offset: number } } } } };
    };
    const ids = layout.collections.nodes.text.text.sortedIds.offset;
    file.writeInt32LE(file.readInt32LE(ids), ids + 4);
    writeFileSync(repeated, file);
    const withRepeat = await readMemoryIndexSnapshot(repeated);
    expect(() => withRepeat?.text('nodes', 'text')).toThrow(`${repeated} has nodes text term ids that are not each term's own`);

    await expect(readMemoryIndexSnapshot(join(dir, 'absent.bin'))).rejects.toThrow(NotFoundError);
  });
});
