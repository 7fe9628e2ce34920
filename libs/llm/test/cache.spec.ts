import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLlmCache, FsLlmCache, llmCacheKey, MemoryLlmCache } from '@rescue/llm';

// The cache stores and keys. How calls use them is in cached-llm.spec.ts.

describe('llmCacheKey', () => {
  const base = { model: 'm', template: 'guideline-merge@v1', input: { lists: [['a']], cwe: 'CWE-79' } };

  it('is a sha256 hex digest that ignores object key order', () => {
    const key = llmCacheKey(base);
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(llmCacheKey({ template: 'guideline-merge@v1', input: { cwe: 'CWE-79', lists: [['a']] }, model: 'm' })).toBe(key);
  });

  it('changes with the model, the template version and the input', () => {
    const key = llmCacheKey(base);
    expect(llmCacheKey({ ...base, model: 'm2' })).not.toBe(key);
    expect(llmCacheKey({ ...base, template: 'guideline-merge@v2' })).not.toBe(key);
    expect(llmCacheKey({ ...base, input: { lists: [['b']], cwe: 'CWE-79' } })).not.toBe(key);
    // Array order is meaning, not formatting.
    expect(llmCacheKey({ ...base, input: { lists: [['a'], ['b']] } })).not.toBe(llmCacheKey({ ...base, input: { lists: [['b'], ['a']] } }));
  });

  it('keeps the keys it derived before canonicalJson moved to libs/domain (cache folders written then still hit)', () => {
    expect(llmCacheKey(base)).toBe('d1c3a92d9a3af6b7baa518bd9fffef0de0b20d0428c0c9b44412fa4def82416d');
    expect(llmCacheKey({ model: 'm', template: 'guideline-merge@v1', input: { cwe: 'CWE-79', lists: [['a', 'b'], ['c']], z: { $schema: 'x', b: null, a: [1, 2.5, true] } } })).toBe(
      'c28252290bf97458cc842fb8124f533966acb6339f35c7ed7aa47ec5a417478e',
    );
    expect(llmCacheKey({ model: 'emb', template: 'adhoc:embedding', input: { text: 'hello', dimensions: null } })).toBe('004b620c8f93e3d7adf4f54a81283e6a77c98272e22451df0862499037a4d998');
  });
});

describe('MemoryLlmCache', () => {
  it('round-trips values and returns copies', async () => {
    const cache = new MemoryLlmCache();
    await cache.set('k', { a: [1, 2] });
    const value = (await cache.get('k')) as { a: number[] };
    value.a.push(3);
    expect(await cache.get('k')).toEqual({ a: [1, 2] });
    expect(await cache.get('missing')).toBeUndefined();
  });

  it('evicts the oldest entries beyond its capacity', async () => {
    const cache = new MemoryLlmCache(2);
    await cache.set('a', 1);
    await cache.set('b', 2);
    await cache.set('c', 3);
    expect(cache.size).toBe(2);
    expect(await cache.get('a')).toBeUndefined();
    expect(await cache.get('c')).toBe(3);
  });
});

describe('FsLlmCache', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rescue-llm-cache-'));
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const key = llmCacheKey({ model: 'm', template: 't@v1', input: 'x' });

  it('stores one JSON file per key under a two-character shard, with no temp files left behind', async () => {
    const cache = new FsLlmCache(dir);
    await cache.set(key, { text: 'hello' });
    expect(await cache.get(key)).toEqual({ text: 'hello' });
    const shard = key.slice(0, 2);
    expect(await readdir(dir)).toEqual([shard]);
    expect(await readdir(join(dir, shard))).toEqual([`${key}.json`]);
    const stored = JSON.parse(await readFile(join(dir, shard, `${key}.json`), 'utf8')) as { key: string; value: unknown };
    expect(stored).toMatchObject({ key, value: { text: 'hello' } });
  });

  it('survives concurrent writers of the same key', async () => {
    const cache = new FsLlmCache(dir);
    await Promise.all(Array.from({ length: 20 }, () => cache.set(key, { text: 'same' })));
    expect(await cache.get(key)).toEqual({ text: 'same' });
    expect(await readdir(join(dir, key.slice(0, 2)))).toEqual([`${key}.json`]);
  });

  it('treats missing, corrupt and misplaced entries as misses', async () => {
    const cache = new FsLlmCache(dir);
    expect(await cache.get(key)).toBeUndefined();
    await cache.set(key, 'v');
    const path = join(dir, key.slice(0, 2), `${key}.json`);
    await writeFile(path, '{"key": "' + key + '", "value": ', 'utf8');
    expect(await cache.get(key)).toBeUndefined();
    await writeFile(path, JSON.stringify({ key: 'f'.repeat(64), value: 'other' }), 'utf8');
    expect(await cache.get(key)).toBeUndefined();
  });

  it('refuses keys that are not hashes (no path traversal)', async () => {
    const cache = new FsLlmCache(dir);
    await expect(cache.set('../../etc/passwd', 'x')).rejects.toThrow(/64 lowercase hex/);
    await expect(cache.get('../x')).rejects.toThrow(/64 lowercase hex/);
  });

  it('is chosen by createLlmCache', () => {
    expect(createLlmCache({ kind: 'fs', dir })).toBeInstanceOf(FsLlmCache);
    expect(createLlmCache({ kind: 'memory', dir })).toBeInstanceOf(MemoryLlmCache);
    expect(createLlmCache({ kind: 'none', dir })).toBeUndefined();
  });
});
