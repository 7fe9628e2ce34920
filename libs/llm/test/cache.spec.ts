import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { canonicalJson, createLlmCache, FsLlmCache, guidelineMergeTemplate, LlmClient, type LlmCache, llmCacheKey, LlmInvalidOutputError, MemoryLlmCache } from '@rescue/llm';
import { FakeOpenAiServer } from '@rescue/testing';
import { configFor } from './helpers';

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

  it('canonicalJson sorts keys at every depth', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { f: 1, e: 2 }], c: null } })).toBe('{"a":{"c":null,"d":[1,{"e":2,"f":1}]},"b":1}');
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

describe('LlmClient with a cache', () => {
  let fake: FakeOpenAiServer;
  let cache: MemoryLlmCache;
  let llm: LlmClient;
  const user = (content: string) => [{ role: 'user' as const, content }];

  beforeAll(async () => {
    fake = await FakeOpenAiServer.start();
  });

  afterAll(async () => {
    await fake.close();
  });

  beforeEach(() => {
    fake.script([
      { match: /rules/, reply: '{"guidelines": ["Validate input."]}', usage: { promptTokens: 30, completionTokens: 6 } },
      { match: /broken/, reply: 'not json' },
    ]);
    fake.setFault(undefined);
    fake.clearRequests();
    cache = new MemoryLlmCache();
    llm = new LlmClient(configFor(fake), { cache });
  });

  it('serves a repeated chat call from the cache with zero requests', async () => {
    const first = await llm.chat('analyzer', user('hello'), { temperature: 0 });
    expect(fake.requests).toHaveLength(1);
    const second = await llm.chat('analyzer', user('hello'), { temperature: 0 });
    expect(fake.requests).toHaveLength(1);
    expect(second).toEqual({ ...first, cached: true });
    expect(llm.stats()).toMatchObject({ requests: 1, cacheHits: 1, promptTokens: first.usage.promptTokens });
    expect(llm.stats().byRole.analyzer.cacheHits).toBe(1);
  });

  it('misses when the messages, the sampling settings, the model or the endpoint differ', async () => {
    await llm.chat('analyzer', user('hello'));
    await llm.chat('analyzer', user('hello!'));
    await llm.chat('analyzer', user('hello'), { temperature: 0.7 });
    await llm.chat('generator', user('hello'));
    await llm.complete('analyzer', 'hello');
    expect(fake.requests).toHaveLength(5);
    expect(llm.stats().cacheHits).toBe(0);
  });

  it('serves structured calls and template runs from the cache, keyed by template version', async () => {
    const input = { lists: [['Validate input.'], ['Check input.']] };
    const a = await llm.run(guidelineMergeTemplate, input);
    const b = await llm.run(guidelineMergeTemplate, input);
    expect(fake.requests).toHaveLength(1);
    expect(b).toMatchObject({ cached: true, value: a.value, usage: { promptTokens: 30, completionTokens: 6, totalTokens: 36 } });
    await llm.run({ ...guidelineMergeTemplate, version: guidelineMergeTemplate.version + 1 }, input);
    expect(fake.requests).toHaveLength(2);
  });

  it('never caches an answer that failed validation', async () => {
    const schema = z.object({ guidelines: z.array(z.string()) });
    await expect(llm.structured('summarizer', user('broken'), schema)).rejects.toBeInstanceOf(LlmInvalidOutputError);
    await expect(llm.structured('summarizer', user('broken'), schema)).rejects.toBeInstanceOf(LlmInvalidOutputError);
    expect(fake.requests).toHaveLength(2);
    expect(cache.size).toBe(0);
  });

  it('treats a cached text that no longer validates as a miss', async () => {
    await llm.chat('summarizer', user('rules'));
    // The same messages as a structured call with a schema the cached text does not satisfy: a
    // different key anyway (schema is part of it); the plain chat entry stays usable.
    const strict = z.object({ guidelines: z.array(z.string()).min(2) });
    await expect(llm.structured('summarizer', user('rules'), strict)).rejects.toBeInstanceOf(LlmInvalidOutputError);
    expect(fake.requests).toHaveLength(2);
    expect((await llm.chat('summarizer', user('rules'))).cached).toBe(true);
  });

  it('does not read or write the cache when a call opts out', async () => {
    await llm.chat('analyzer', user('hello'), { cache: false });
    await llm.chat('analyzer', user('hello'), { cache: false });
    expect(fake.requests).toHaveLength(2);
    expect(cache.size).toBe(0);
  });

  it('caches embeddings per text and only sends the texts it has not seen', async () => {
    const first = await llm.embed(['alpha', 'beta']);
    const second = await llm.embed(['beta', 'gamma', 'alpha']);
    expect(fake.requests.map((r) => r.body.input)).toEqual([['alpha', 'beta'], ['gamma']]);
    expect(second.cachedCount).toBe(2);
    expect(Array.from(second.vectors[0])).toEqual(Array.from(first.vectors[1]));
    expect(Array.from(second.vectors[2])).toEqual(Array.from(first.vectors[0]));
    const third = await llm.embed(['gamma', 'alpha']);
    expect(third).toMatchObject({ cachedCount: 2, usage: { promptTokens: 0 } });
    expect(fake.requests).toHaveLength(2);
    expect(llm.stats().byRole.embedder).toMatchObject({ requests: 2, cacheHits: 4 });
  });

  it('shares a filesystem cache across clients (a restarted worker pays nothing)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rescue-llm-cache-'));
    try {
      const one = new LlmClient(configFor(fake), { cache: new FsLlmCache(dir) });
      const a = await one.run(guidelineMergeTemplate, { lists: [['x']] });
      const two = new LlmClient(configFor(fake), { cache: new FsLlmCache(dir) });
      const b = await two.run(guidelineMergeTemplate, { lists: [['x']] });
      expect(fake.requests).toHaveLength(1);
      expect(b).toMatchObject({ cached: true, value: a.value });
      expect(two.stats()).toMatchObject({ requests: 0, cacheHits: 1 });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('keeps working when the cache fails, and counts failed writes', async () => {
    const broken: LlmCache = {
      get: () => Promise.reject(new Error('disk gone')),
      set: () => Promise.reject(new Error('disk full')),
    };
    const withBroken = new LlmClient(configFor(fake), { cache: broken });
    expect((await withBroken.chat('analyzer', user('hello'))).text).toBe('OK');
    expect(withBroken.stats()).toMatchObject({ requests: 1, cacheWriteErrors: 1, failures: 0 });
  });
});
