import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { Bm25Index, type IndexedDocument, type IndexedExample, type IndexedNode, type MemoryRow, WrittenRows, memoryIndexSnapshotOf, textHashes, writeMemoryIndexSnapshot } from '@rescue/retrieval';

// A rebuild takes unchanged documents' postings from the earlier version's snapshot instead of
// tokenizing their texts again. The index must come out exactly as built from every text: the
// same term ids (they are in the order terms are first met), postings, norms and idfs.

const row = (id: string): MemoryRow => ({ id, cwes: [], language: 'c' });

/** Everything an index is, as plain values. */
function partsOf(index: Bm25Index): unknown {
  const p = index.parts();
  return { terms: [...p.termIds.keys()], starts: [...p.starts], docs: [...p.docs], tfs: [...p.tfs], docNorm: [...p.docNorm], idfs: [...p.idfs] };
}

function rebuilt(earlier: { ids: string[]; texts: string[] }, now: { ids: string[]; texts: string[] }, rememberPairs?: number): { fresh: unknown; reused: unknown } {
  const before = new Bm25Index(earlier.ids.map(row), earlier.texts);
  const textOf = (i: number): string => now.texts[i];
  const rows = now.ids.map(row);
  const fresh = new Bm25Index(rows, textOf, rememberPairs);
  const reused = new Bm25Index(rows, textOf, rememberPairs, {
    hashes: textHashes(textOf, rows.length),
    earlier: { ids: earlier.ids, hashes: textHashes((i) => earlier.texts[i], earlier.ids.length), parts: before.parts() },
  });
  return { fresh: partsOf(fresh), reused: partsOf(reused) };
}

const vocabulary = ['buffer', 'length', 'query', 'path', 'html', 'escape', 'token', 'copy', 'free', 'alloc', 'sql', 'exec'];
const text = fc.array(fc.constantFrom(...vocabulary, ...vocabulary.map((w) => `${w}_x`)), { minLength: 0, maxLength: 12 }).map((ws) => ws.join(' '));

describe('BM25 postings taken from an earlier index', () => {
  it('are the index built from every text, whatever was inserted, removed, changed or moved', () => {
    fc.assert(
      fc.property(
        fc.array(text, { minLength: 1, maxLength: 25 }),
        fc.array(fc.tuple(fc.nat(30), fc.constantFrom('insert', 'remove', 'change', 'move'), text), { maxLength: 8 }),
        fc.constantFrom(undefined, 7),
        (texts, edits, rememberPairs) => {
          const earlier = { ids: texts.map((_, i) => `d${i}`), texts };
          const docs = earlier.ids.map((id, i) => ({ id, text: texts[i] }));
          let added = 0;
          for (const [at, what, t] of edits) {
            const i = at % (docs.length + 1);
            if (what === 'insert') docs.splice(i, 0, { id: `new${added++}`, text: t });
            else if (i < docs.length && what === 'remove') docs.splice(i, 1);
            else if (i < docs.length && what === 'change') docs[i] = { ...docs[i], text: t };
            else if (i < docs.length && what === 'move') docs.push(...docs.splice(i, 1));
          }
          const { fresh, reused } = rebuilt(earlier, { ids: docs.map((d) => d.id), texts: docs.map((d) => d.text) }, rememberPairs);
          expect(reused).toEqual(fresh);
        },
      ),
      { numRuns: 400 },
    );
  });

  it('reads a text again when an earlier document that first used one of its terms is gone', () => {
    // "b" was first met in d0; with d0 removed it is first met in d1, after "c" (which d1 met first).
    const { fresh, reused } = rebuilt({ ids: ['d0', 'd1'], texts: ['a b', 'c b c'] }, { ids: ['d1'], texts: ['c b c'] });
    expect(reused).toEqual(fresh);
    expect((fresh as { terms: string[] }).terms).toEqual(['c', 'b']);
  });

  it.each([
    ['a document number out of range', (docs: Int32Array) => (docs[0] = 99)],
    ['documents out of order', (docs: Int32Array) => docs.reverse()],
  ])('takes nothing from postings with %s, and builds from the texts', (_what, damage) => {
    const texts = ['a b c', 'b c d', 'c d e', 'a e'];
    const earlier = new Bm25Index(
      texts.map((_, i) => row(`d${i}`)),
      texts,
    );
    const parts = earlier.parts();
    const docs = Int32Array.from(parts.docs);
    damage(docs);
    const textOf = (i: number): string => texts[i];
    const rows = texts.map((_, i) => row(`d${i}`));
    const reused = new Bm25Index(rows, textOf, undefined, { hashes: textHashes(textOf, 4), earlier: { ids: rows.map((r) => r.id), hashes: textHashes(textOf, 4), parts: { ...parts, docs } } });
    expect(partsOf(reused)).toEqual(partsOf(new Bm25Index(rows, textOf)));
  });

  it('through the snapshot: a version written with the earlier one is the file written without it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rescue-bm25-reuse-'));
    try {
      const nodes = (n: number, changed = -1): IndexedNode[] =>
        Array.from({ length: n }, (_, i) => ({
          id: `n${i}`,
          cwe: `CWE-${i}`,
          language: 'python',
          text: `${vocabulary[i % 12]} weakness w${i}${i === changed ? ' changed' : ''}`,
          apiText: `api${i % 5}`,
          docTerms: `${vocabulary[(i * 5) % 12]} doc${i}`,
          causeVector: Float32Array.from({ length: 4 }, (_, j) => Math.sin(i + j)),
        }));
      const examples = (n: number): IndexedExample[] =>
        Array.from({ length: n }, (_, i) => ({
          id: `e${i}`,
          nodeId: `n${i % 10}`,
          cwe: `CWE-${i % 10}`,
          language: 'python',
          apiText: `api${i % 3}`,
          codeText: `${vocabulary[(i * 7) % 12]} ${vocabulary[i % 12]} f${i}`,
          codeVector: Float32Array.from({ length: 4 }, (_, j) => Math.cos(i + j)),
        }));
      const documents: IndexedDocument[] = [{ id: 'd0', kind: 'description', cwes: ['CWE-1'], terms: 'query escape' }];
      const first = join(dir, 'first.bin');
      await writeMemoryIndexSnapshot(first, new WrittenRows({ nodes: nodes(10), examples: examples(30), documents }));
      const earlier = memoryIndexSnapshotOf(readFileSync(first), first);
      expect(earlier?.earlierPostings?.('examples', 'code_text')?.ids).toHaveLength(30);
      // Terms added and terms gone (e5's f5), terms gone alone, and terms added alone: the sorted
      // terms are merged into the earlier ones in each case.
      const without5 = (list: IndexedExample[]): IndexedExample[] => list.filter((e) => e.id !== 'e5');
      for (const next of [
        { nodes: nodes(12, 3), examples: without5(examples(33)), documents },
        { nodes: nodes(10), examples: without5(examples(30)), documents },
        { nodes: nodes(12, 3), examples: examples(33), documents },
      ]) {
        await writeMemoryIndexSnapshot(join(dir, 'reused.bin'), new WrittenRows(next), undefined, undefined, earlier);
        await writeMemoryIndexSnapshot(join(dir, 'fresh.bin'), new WrittenRows(next));
        expect(readFileSync(join(dir, 'reused.bin')).equals(readFileSync(join(dir, 'fresh.bin')))).toBe(true);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
