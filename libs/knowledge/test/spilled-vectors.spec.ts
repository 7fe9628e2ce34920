import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SpilledVectors } from '../src/spilled-vectors';

describe('SpilledVectors', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'rescue-spilled-vectors-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('reads back every vector added, by its number, in any order, views of a shared buffer included, and removes its file', async () => {
    const vectors = await SpilledVectors.create(join(dir, 'publish'));
    // Past one append's worth, some of them views into one buffer (as an embedder's batch may give them).
    const shared = new Float32Array(8 * 2500).map((_, i) => Math.sin(i) * 1e3);
    const added = Array.from({ length: 2500 }, (_, i) => (i % 3 === 0 ? shared.subarray(i * 8, i * 8 + 8) : Float32Array.from({ length: 8 }, (_, d) => i + d / 8 - 0.5)));
    for (const [i, v] of added.entries()) expect(await vectors.add(v)).toBe(i);
    await expect(vectors.add(new Float32Array(3))).rejects.toThrow('8 dimensions, not 3');
    expect(() => vectors.get(0)).toThrow('before it is sealed');
    await vectors.seal();
    expect(vectors.count).toBe(added.length);
    expect(statSync(vectors.path).size).toBe(added.length * 8 * 4);
    for (const i of [2499, 0, 1, 1250, 3, 2498]) expect(vectors.get(i)).toEqual(added[i]);
    expect(added.every((v, i) => vectors.get(i).every((x, d) => x === v[d]))).toBe(true);
    expect(() => vectors.get(2500)).toThrow(RangeError);
    expect(() => vectors.get(-1)).toThrow(RangeError);
    await vectors.remove();
    expect(existsSync(vectors.path)).toBe(false);
  });
});
