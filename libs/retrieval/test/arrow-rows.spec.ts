import { makeArrowTable } from '@lancedb/lancedb';
import { arrowTable } from '@rescue/retrieval';

// The tables a publish hands LanceDB are built column by column (arrowTable); they must be the
// tables LanceDB's own makeArrowTable infers from the same rows (vectors as arrays of numbers),
// or a KB written now would differ from one written before.
describe('arrowTable', () => {
  const rows = [
    { id: 'a1', language: 'python', code_text: 'sql queri execut', vector: Float32Array.from([0.5, -1.25, 3]) },
    { id: 'b2', language: '', code_text: 'ünïcode 漢字 text', vector: Float32Array.from([0, 1e-7, -2]) },
    { id: 'c3', language: 'c', code_text: ' ', vector: Float32Array.from([Number.MAX_VALUE, 1, 2]) },
    // Astral characters, and a value longer than Buffer's shared pool.
    { id: 'd4', language: 'rust', code_text: `😀 ${'x'.repeat(9000)} 𝔘`, vector: Float32Array.from([1, 2, 3]) },
  ];
  const columns = { text: ['id', 'language', 'code_text'], vector: { name: 'vector', dims: 3 } };

  it("is the table LanceDB's makeArrowTable infers from the rows: the same schema and values", () => {
    const ours = arrowTable(rows, columns);
    const inferred = makeArrowTable(rows.map((r) => ({ ...r, vector: Array.from(r.vector) })));
    expect(ours.schema.fields.map((f) => [f.name, String(f.type), f.nullable])).toEqual(inferred.schema.fields.map((f) => [f.name, String(f.type), f.nullable]));
    const values = (t: typeof ours): unknown[] =>
      t.toArray().map((r) => Object.fromEntries(Object.entries(r.toJSON()).map(([k, v]) => [k, v && typeof v === 'object' ? Array.from(v as ArrayLike<number>) : v])));
    expect(values(ours)).toEqual(values(inferred));
    expect(values(ours)[1]).toEqual({ id: 'b2', language: '', code_text: 'ünïcode 漢字 text', vector: [0, Math.fround(1e-7), -2] });
  });

  it('refuses a vector of other dimensions than its column, naming the row', () => {
    expect(() => arrowTable([...rows, { id: 'e5', language: 'c', code_text: 'x', vector: Float32Array.from([1, 2]) }], columns)).toThrow(/vector 4 has 2 dimensions, the column 3/);
  });

  it('writes a table without a vector column when the rows have none', () => {
    const t = arrowTable([{ id: 'x', terms: 'a b' }], { text: ['id', 'terms'] });
    expect(t.schema.fields.map((f) => f.name)).toEqual(['id', 'terms']);
    expect(t.numRows).toBe(1);
  });
});
