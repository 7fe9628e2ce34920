import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SpilledTexts } from '../src/spilled-texts';

describe('SpilledTexts', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'rescue-spilled-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('reads back every text added, by its number, in any order, and removes its file', async () => {
    const texts = await SpilledTexts.create(join(dir, 'publish'));
    // Past one append's worth of characters, with empty and multi-byte texts among them.
    const added = Array.from({ length: 3000 }, (_, i) => (i % 7 === 0 ? '' : `term${i} ${'é✓'.repeat(i % 5)} ${'x'.repeat(i)}`));
    for (const [i, t] of added.entries()) expect(await texts.add(t)).toBe(i);
    expect(() => texts.get(0)).toThrow('before it is sealed');
    await texts.seal();
    expect(texts.count).toBe(added.length);
    for (const i of [2999, 0, 1, 1500, 7, 2998]) expect(texts.get(i)).toBe(added[i]);
    expect(added.every((t, i) => texts.get(i) === t)).toBe(true);
    expect(() => texts.get(3000)).toThrow(RangeError);
    expect(existsSync(texts.path)).toBe(true);
    await texts.remove();
    expect(existsSync(texts.path)).toBe(false);
  });
});
