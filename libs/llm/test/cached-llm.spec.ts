import { cp, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { CachedLlm, FsLlmCache, guidelineMergeTemplate, type Llm, LlmClient, LlmInvalidOutputError, type LlmConfig, MemoryLlmCache, withResponseCache } from '@rescue/llm';
import { FakeOpenAiServer } from '@rescue/testing';
import { configFor } from './helpers';

// The response cache as a decorator of the real client, against the loopback fake OpenAI server
// (no SDK mocks): every "no request was sent" below is counted on the wire.

const user = (content: string) => [{ role: 'user' as const, content }];
const guidelines = z.object({ guidelines: z.array(z.string()) });

/** A cache whose reads or writes fail the way a broken disk does; it stores nothing it cannot write. */
function brokenCache(broken: { reads?: boolean; writes?: boolean }): MemoryLlmCache {
  const cache = new MemoryLlmCache();
  const diskError = (what: string) => Object.assign(new Error(`${what}: EIO: i/o error`), { code: 'EIO' });
  const get = cache.get.bind(cache);
  const set = cache.set.bind(cache);
  cache.get = (key) => (broken.reads ? Promise.reject(diskError('read')) : get(key));
  cache.set = (key, value) => (broken.writes ? Promise.reject(diskError('write')) : set(key, value));
  return cache;
}

describe('withResponseCache', () => {
  let fake: FakeOpenAiServer;
  let cache: MemoryLlmCache;
  let llm: Llm;

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
    llm = withResponseCache(new LlmClient(configFor(fake)), cache);
  });

  it('wraps the client in a CachedLlm, or returns the client itself without a cache', () => {
    const client = new LlmClient(configFor(fake));
    expect(withResponseCache(client, cache)).toBeInstanceOf(CachedLlm);
    expect(withResponseCache(client, undefined)).toBe(client);
    expect(llm.modelFor('analyzer')).toBe('ana-model');
    expect(llm.describe()).toEqual(client.describe());
  });

  describe('hit', () => {
    it('serves a repeated chat call from the cache with zero requests', async () => {
      const first = await llm.chat('analyzer', user('hello'), { temperature: 0 });
      expect(fake.requests).toHaveLength(1);
      const second = await llm.chat('analyzer', user('hello'), { temperature: 0 });
      expect(fake.requests).toHaveLength(1);
      expect(first.cached).toBe(false);
      expect(second).toEqual({ ...first, cached: true });
      expect(llm.stats()).toMatchObject({ requests: 1, cacheHits: 1, failures: 0, promptTokens: first.usage.promptTokens });
      expect(llm.stats().byRole.analyzer).toMatchObject({ requests: 1, cacheHits: 1 });
    });

    it('serves structured calls and template runs from the cache, keyed by template version', async () => {
      const input = { lists: [['Validate input.'], ['Check input.']] };
      const a = await llm.run(guidelineMergeTemplate, input);
      const b = await llm.run(guidelineMergeTemplate, input);
      expect(fake.requests).toHaveLength(1);
      expect(b).toMatchObject({ cached: true, value: a.value, usage: { promptTokens: 30, completionTokens: 6, totalTokens: 36 } });
      await llm.run({ ...guidelineMergeTemplate, version: guidelineMergeTemplate.version + 1 }, input);
      expect(fake.requests).toHaveLength(2);
      expect(llm.stats().byRole.summarizer).toMatchObject({ requests: 2, cacheHits: 1 });
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

    it('sends the missing texts in batches of embeddingBatchSize, caching each batch as it arrives', async () => {
      const batched = withResponseCache(new LlmClient(configFor(fake, { embeddingBatchSize: 2 })), cache);
      await batched.embed(['b']);
      // Fails the third request: the batches before it are cached all the same.
      fake.script([{ match: /e/, fault: { kind: 'status', status: 500 } }]);
      await expect(batched.embed(['a', 'b', 'c', 'd', 'e'])).rejects.toThrow();
      expect(fake.requests.map((r) => r.body.input)).toEqual([['b'], ['a', 'c'], ['d', 'e']]);
      expect(cache.size).toBe(3);
      expect(batched.stats().byRole.embedder).toMatchObject({ requests: 3, failures: 1, cacheHits: 1 });
    });

    it('shares a filesystem cache across clients (a restarted worker pays nothing)', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'rescue-llm-cache-'));
      try {
        const one = withResponseCache(new LlmClient(configFor(fake)), new FsLlmCache(dir));
        const a = await one.run(guidelineMergeTemplate, { lists: [['x']] });
        const two = withResponseCache(new LlmClient(configFor(fake)), new FsLlmCache(dir));
        const b = await two.run(guidelineMergeTemplate, { lists: [['x']] });
        expect(fake.requests).toHaveLength(1);
        expect(b).toMatchObject({ cached: true, value: a.value });
        expect(two.stats()).toMatchObject({ requests: 0, cacheHits: 1 });
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });

  describe('miss', () => {
    it('misses when the messages, the sampling settings, the model or the endpoint differ', async () => {
      await llm.chat('analyzer', user('hello'));
      await llm.chat('analyzer', user('hello!'));
      await llm.chat('analyzer', user('hello'), { temperature: 0.7 });
      await llm.chat('analyzer', user('hello'), { seed: 3 });
      await llm.chat('generator', user('hello'));
      await llm.complete('analyzer', 'hello');
      expect(fake.requests).toHaveLength(6);
      expect(llm.stats().cacheHits).toBe(0);
      expect(cache.size).toBe(6);
    });

    it('hits whatever the output budget: maxTokens is not part of the key', async () => {
      await llm.chat('analyzer', user('hello'), { maxTokens: 64 });
      expect((await llm.chat('analyzer', user('hello'), { maxTokens: 128 })).cached).toBe(true);
      expect(fake.requests).toHaveLength(1);
    });

    it('misses when the structured mode or the schema differ', async () => {
      await llm.structured('summarizer', user('rules'), guidelines);
      await llm.structured('summarizer', user('rules'), guidelines, { mode: 'json_object' });
      await llm.structured('summarizer', user('rules'), guidelines.extend({ note: z.string().optional() }));
      expect(fake.requests).toHaveLength(3);
    });

    it('never caches an answer that failed validation', async () => {
      await expect(llm.structured('summarizer', user('broken'), guidelines)).rejects.toBeInstanceOf(LlmInvalidOutputError);
      await expect(llm.structured('summarizer', user('broken'), guidelines)).rejects.toBeInstanceOf(LlmInvalidOutputError);
      expect(fake.requests).toHaveLength(2);
      expect(cache.size).toBe(0);
      expect(llm.stats()).toMatchObject({ failures: 2, cacheHits: 0 });
    });

    it('treats a cached text that no longer passes the check as a miss, and keeps serving it where it does', async () => {
      await llm.structured('summarizer', user('rules'), guidelines);
      // A refinement is not part of the JSON schema sent, so this call has the same key; the cached
      // text (one guideline) fails it, so it is sent again (and refused again: the fake says the same).
      const atLeastTwo = guidelines.refine((g) => g.guidelines.length >= 2, 'two guidelines at least');
      await expect(llm.structured('summarizer', user('rules'), atLeastTwo)).rejects.toBeInstanceOf(LlmInvalidOutputError);
      expect(fake.requests).toHaveLength(2);
      expect(cache.size).toBe(1);
      expect(llm.stats().cacheHits).toBe(0);
      expect((await llm.structured('summarizer', user('rules'), guidelines)).cached).toBe(true);
    });

    it('does not read or write the cache when a call opts out', async () => {
      await llm.chat('analyzer', user('hello'));
      await llm.chat('analyzer', user('hello'), { cache: false });
      await llm.embed(['alpha'], { cache: false });
      await llm.embed(['alpha'], { cache: false });
      expect(fake.requests).toHaveLength(4);
      expect(cache.size).toBe(1);
    });
  });

  describe('read failure', () => {
    it('is a miss: the call is sent and succeeds, nothing is counted as failed', async () => {
      const unreadable = brokenCache({ reads: true });
      const withBroken = withResponseCache(new LlmClient(configFor(fake)), unreadable);
      expect((await withBroken.chat('analyzer', user('hello'))).text).toBe('OK');
      expect((await withBroken.chat('analyzer', user('hello'))).cached).toBe(false);
      expect((await withBroken.embed(['alpha'])).cachedCount).toBe(0);
      expect(fake.requests).toHaveLength(3);
      // Writes still work; the entries are there for a reader whose disk recovers.
      expect(unreadable.size).toBe(2);
      expect(withBroken.stats()).toMatchObject({ requests: 3, cacheHits: 0, failures: 0, cacheWriteErrors: 0 });
    });
  });

  describe('write failure', () => {
    it('is counted, not thrown: the answer is returned, and the next identical call is sent again', async () => {
      const unwritable = brokenCache({ writes: true });
      const withBroken = withResponseCache(new LlmClient(configFor(fake)), unwritable);
      expect((await withBroken.chat('analyzer', user('hello'))).text).toBe('OK');
      expect((await withBroken.structured('summarizer', user('rules'), guidelines)).value).toEqual({ guidelines: ['Validate input.'] });
      expect((await withBroken.embed(['alpha', 'beta'])).vectors).toHaveLength(2);
      expect((await withBroken.chat('analyzer', user('hello'))).cached).toBe(false);
      expect(fake.requests).toHaveLength(4);
      expect(withBroken.stats()).toMatchObject({ requests: 4, failures: 0, cacheWriteErrors: 5 });
    });
  });

  describe('cache files written before the decorator', () => {
    // fixtures/llm-cache-before-decorator was written by LlmClient when it held the cache itself
    // (the calls below, with these models and embeddingDimensions 12): the same calls must hit every
    // entry, so a KB build's cache directory from an earlier run still saves its requests.
    const config = (server: FakeOpenAiServer): LlmConfig =>
      configFor(server, { models: { summarizer: 'sum-model', analyzer: 'ana-model', generator: 'gen-model', embedder: 'emb-model' }, embeddingDimensions: 12 });

    it('hits every entry, with no request', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'rescue-llm-cache-old-'));
      try {
        await cp(join(__dirname, 'fixtures', 'llm-cache-before-decorator'), dir, { recursive: true });
        const old = withResponseCache(new LlmClient(config(fake)), new FsLlmCache(dir));

        const chat = await old.chat('analyzer', [{ role: 'system', content: 'You review code.' }, ...user('hello')], { temperature: 0 });
        const complete = await old.complete('generator', 'def add(a, b):', { seed: 7 });
        const schemaMode = await old.structured('summarizer', user('rules for CWE-79'), guidelines);
        const objectMode = await old.structured('summarizer', user('rules for CWE-89'), guidelines, { mode: 'json_object', schemaName: 'guidelines' });
        const template = await old.run(guidelineMergeTemplate, { lists: [['Validate input.'], ['Check input.']] });
        const embedded = await old.embed(['alpha', 'beta']);

        expect(fake.requests).toEqual([]);
        expect([chat, complete, schemaMode, objectMode, template].map((r) => r.cached)).toEqual([true, true, true, true, true]);
        expect(chat).toMatchObject({ text: 'OK', model: 'ana-model', usage: { promptTokens: 6, completionTokens: 1, totalTokens: 7 } });
        expect(template.value).toEqual({ guidelines: ['Validate input.'] });
        expect(embedded).toMatchObject({ cachedCount: 2, model: 'emb-model' });
        expect(embedded.vectors.map((v) => v.length)).toEqual([12, 12]);
        expect(old.stats()).toMatchObject({ requests: 0, cacheHits: 7 });
        // Nothing new was written next to them.
        expect((await readdir(dir)).sort()).toEqual(['17', '2a', '42', '68', '81', 'd8', 'e7']);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
});
