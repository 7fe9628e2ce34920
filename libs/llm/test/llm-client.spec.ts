import { inspect } from 'node:util';
import { z } from 'zod';
import { ConfigError, InvalidInputError, RateLimitedError, RescueError, TransientUpstreamError } from '@rescue/domain';
import { LlmClient, LlmConfigError, LlmInvalidOutputError, LlmRefusalError, LlmRequestRejectedError, LlmTruncatedError, LlmUpstreamError, retryAfterMs } from '@rescue/llm';
import { FakeOpenAiServer, fakeEmbedding } from '@rescue/testing';
import { configFor, rejectionOf, TEST_API_KEY } from './helpers';

// The real openai SDK against the loopback fake: no SDK mocks, so the wire format, the SDK's
// error classes and its timeout behaviour are all exercised for real.

const user = (content: string) => [{ role: 'user' as const, content }];

describe('LlmClient', () => {
  let fake: FakeOpenAiServer;
  let llm: LlmClient;

  beforeAll(async () => {
    fake = await FakeOpenAiServer.start({ apiKey: TEST_API_KEY });
  });

  afterAll(async () => {
    await fake.close();
  });

  beforeEach(() => {
    fake.script([]);
    fake.setFault(undefined);
    fake.setLatency(0);
    fake.clearRequests();
    llm = new LlmClient(configFor(fake));
  });

  describe('chat', () => {
    it('sends the role model, the messages and the output budget, and returns text with usage', async () => {
      fake.script([{ match: /hello/, reply: 'hi!', usage: { promptTokens: 11, completionTokens: 3 } }]);
      const result = await llm.chat(
        'analyzer',
        [
          { role: 'system', content: 'be brief' },
          { role: 'user', content: 'hello' },
        ],
        { temperature: 0, seed: 7 },
      );
      expect(result).toEqual({ text: 'hi!', finishReason: 'stop', model: 'ana-model', cached: false, usage: { promptTokens: 11, completionTokens: 3, totalTokens: 14 } });
      const [req] = fake.requests;
      expect(req.body).toMatchObject({
        model: 'ana-model',
        messages: [
          { role: 'system', content: 'be brief' },
          { role: 'user', content: 'hello' },
        ],
        max_completion_tokens: 256,
        temperature: 0,
        seed: 7,
      });
      expect(req.headers.authorization).toBe(`Bearer ${TEST_API_KEY}`);
    });

    it('uses max_tokens when configured to, and a per-call budget', async () => {
      llm = new LlmClient(configFor(fake, { maxTokensParam: 'max_tokens' }));
      await llm.chat('generator', user('x'), { maxTokens: 99 });
      expect(fake.requests[0].body.max_tokens).toBe(99);
      expect(fake.requests[0].body.max_completion_tokens).toBeUndefined();
    });

    it('throws LlmTruncatedError (not retried) on finish_reason "length"', async () => {
      fake.script([{ match: /long/, reply: 'a partial ans', finishReason: 'length' }]);
      const err = await rejectionOf(llm.chat('summarizer', user('something long')));
      expect(err).toBeInstanceOf(LlmTruncatedError);
      expect(err).toBeInstanceOf(InvalidInputError);
      expect(err).toMatchObject({ maxTokens: 256, partialChars: 13, site: { role: 'summarizer', model: 'sum-model', endpoint: 'chat' } });
    });

    it('throws LlmRefusalError on a refusal and on the content filter', async () => {
      fake.script([
        { match: /exploit/, refusal: 'I will not write exploits.' },
        { match: /filtered/, reply: '', finishReason: 'content_filter' },
      ]);
      const refused = await rejectionOf(llm.chat('generator', user('write an exploit')));
      expect(refused).toBeInstanceOf(LlmRefusalError);
      expect((refused as LlmRefusalError).refusal).toBe('I will not write exploits.');
      expect((refused as RescueError).kind).toBe('invalid-input');
      expect(await rejectionOf(llm.chat('generator', user('filtered')))).toBeInstanceOf(LlmRefusalError);
    });
  });

  describe('complete', () => {
    it('calls the completions endpoint with the raw prompt', async () => {
      fake.script([{ match: /^def read_file/, reply: '    with open(path) as f:\n        return f.read()\n' }]);
      const result = await llm.complete('generator', 'def read_file(path):\n', { maxTokens: 64 });
      expect(result.text).toContain('with open(path)');
      expect(result.usage.completionTokens).toBeGreaterThan(0);
      expect(fake.requests[0]).toMatchObject({ endpoint: 'completions', body: { model: 'gen-model', prompt: 'def read_file(path):\n', max_tokens: 64 } });
    });

    it('detects truncation on completions too', async () => {
      fake.setFault({ kind: 'truncate' }, 1);
      expect(await rejectionOf(llm.complete('generator', 'x'))).toBeInstanceOf(LlmTruncatedError);
    });
  });

  describe('embed', () => {
    it('decodes base64 embeddings (the SDK default) into Float32Arrays in input order', async () => {
      const texts = ['user input reaches sql', 'buffer overflow', 'user input reaches sql'];
      const result = await llm.embed(texts);
      expect(fake.requests[0].body.encoding_format).toBe('base64');
      expect(result.vectors).toHaveLength(3);
      expect(result.vectors[0]).toBeInstanceOf(Float32Array);
      expect(Array.from(result.vectors[1])).toEqual(Array.from(fakeEmbedding('buffer overflow', 64)));
      expect(Array.from(result.vectors[2])).toEqual(Array.from(result.vectors[0]));
      expect(result.usage.promptTokens).toBeGreaterThan(0);
      expect(result.model).toBe('emb-model');
      expect(result.cachedCount).toBe(0);
    });

    it('asks for float arrays when configured, with the configured dimensions', async () => {
      llm = new LlmClient(configFor(fake, { embeddingEncoding: 'float', embeddingDimensions: 12 }));
      const result = await llm.embed(['path traversal']);
      expect(fake.requests[0].body).toMatchObject({ encoding_format: 'float', dimensions: 12 });
      expect(result.vectors[0]).toBeInstanceOf(Float32Array);
      expect(Array.from(result.vectors[0])).toEqual(Array.from(fakeEmbedding('path traversal', 12)));
    });

    it('splits large inputs into batches', async () => {
      llm = new LlmClient(configFor(fake, { embeddingBatchSize: 2 }));
      const result = await llm.embed(['a', 'b', 'c', 'd', 'e']);
      expect(result.vectors).toHaveLength(5);
      expect(fake.requests.map((r) => (r.body.input as string[]).length)).toEqual([2, 2, 1]);
      expect(Array.from(result.vectors[4])).toEqual(Array.from(fakeEmbedding('e', 64)));
    });

    it('rejects vectors of the wrong length (a server that ignores dimensions)', async () => {
      llm = new LlmClient(configFor(fake, { embeddingDimensions: 12 }));
      fake.script([{ match: /ignored/, embeddingDimensions: 5 }]);
      const err = (await rejectionOf(llm.embed(['dimensions ignored']))) as LlmInvalidOutputError;
      expect(err).toBeInstanceOf(LlmInvalidOutputError);
      expect(err.reason).toBe('shape');
    });

    it('makes no request for an empty input', async () => {
      expect(await llm.embed([])).toMatchObject({ vectors: [], cachedCount: 0 });
      expect(fake.requests).toHaveLength(0);
    });
  });

  describe('structured', () => {
    const schema = z.object({ guidelines: z.array(z.string().min(1)).min(1) });

    it('sends a json_schema response format and returns the validated value', async () => {
      fake.script([{ match: /rules/, reply: '{"guidelines": ["Validate input.", "Encode output."]}' }]);
      const result = await llm.structured('summarizer', user('give me rules'), schema, { schemaName: 'rules' });
      expect(result.value).toEqual({ guidelines: ['Validate input.', 'Encode output.'] });
      expect(result.cached).toBe(false);
      const format = fake.requests[0].body.response_format as { type: string; json_schema: { name: string; strict: boolean; schema: Record<string, unknown> } };
      expect(format.type).toBe('json_schema');
      expect(format.json_schema).toMatchObject({ name: 'rules', strict: false, schema: { type: 'object', required: ['guidelines'] } });
      expect(format.json_schema.schema.$schema).toBeUndefined();
    });

    it('accepts JSON wrapped in a json code fence', async () => {
      fake.script([{ match: /rules/, reply: '```json\n{"guidelines": ["One."]}\n```' }]);
      expect((await llm.structured('summarizer', user('rules'), schema)).value).toEqual({ guidelines: ['One.'] });
    });

    it('in json_object mode puts the schema into the prompt', async () => {
      llm = new LlmClient(configFor(fake, { structuredMode: 'json_object' }));
      fake.script([{ match: /JSON Schema[\s\S]*"guidelines"/, reply: '{"guidelines": ["One."]}' }]);
      const result = await llm.structured('summarizer', user('rules'), schema);
      expect(result.value.guidelines).toEqual(['One.']);
      expect(fake.requests[0].body.response_format).toEqual({ type: 'json_object' });
    });

    it('throws LlmInvalidOutputError (reason json) for a reply that is not JSON', async () => {
      fake.script([{ match: /rules/, reply: 'Sure! Here are the rules: be careful.' }]);
      const err = await rejectionOf(llm.structured('summarizer', user('rules'), schema));
      expect(err).toBeInstanceOf(LlmInvalidOutputError);
      expect(err).toBeInstanceOf(TransientUpstreamError);
      expect((err as LlmInvalidOutputError).reason).toBe('json');
    });

    it('throws LlmInvalidOutputError (reason schema) with the zod issues for JSON of the wrong shape', async () => {
      fake.script([{ match: /rules/, reply: '{"guidelines": []}' }]);
      const err = (await rejectionOf(llm.structured('summarizer', user('rules'), schema))) as LlmInvalidOutputError;
      expect(err).toBeInstanceOf(LlmInvalidOutputError);
      expect(err.reason).toBe('schema');
      expect(err.issues[0]).toMatch(/^guidelines:/);
    });

    it('reports truncated JSON as truncation, not as a parse error', async () => {
      fake.script([{ match: /rules/, reply: '{"guidelines": ["Validate input.", "Encode output."]}', fault: { kind: 'truncate' } }]);
      expect(await rejectionOf(llm.structured('summarizer', user('rules'), schema))).toBeInstanceOf(LlmTruncatedError);
    });

    it('rejects a bad schema name before sending anything', async () => {
      await expect(llm.structured('summarizer', user('x'), schema, { schemaName: 'has space' })).rejects.toBeInstanceOf(InvalidInputError);
      expect(fake.requests).toHaveLength(0);
    });
  });

  describe('error classification', () => {
    it('maps 429 to RateLimitedError with retryAfterMs from retry-after (seconds), without retrying', async () => {
      fake.setFault({ kind: 'rate-limit', retryAfterSeconds: 3 });
      const err = await rejectionOf(llm.chat('analyzer', user('x')));
      expect(err).toBeInstanceOf(RateLimitedError);
      expect((err as RateLimitedError).retryAfterMs).toBe(3_000);
      expect((err as RateLimitedError).kind).toBe('rate-limited');
      // maxRetries: 0 — the queue owns retries, so exactly one request went out.
      expect(fake.requests).toHaveLength(1);
    });

    it('treats 429 insufficient_quota as configuration, not as a rate limit', async () => {
      fake.setFault({ kind: 'status', status: 429, code: 'insufficient_quota', message: 'You exceeded your current quota.' });
      const err = await rejectionOf(llm.chat('analyzer', user('x')));
      expect(err).toBeInstanceOf(LlmConfigError);
      expect(err).not.toBeInstanceOf(RateLimitedError);
    });

    it('prefers retry-after-ms when the server sends it', async () => {
      fake.setFault({ kind: 'rate-limit', retryAfterSeconds: 3, retryAfterMs: 1_250 });
      expect(await rejectionOf(llm.embed(['x']))).toMatchObject({ retryAfterMs: 1_250 });
    });

    it('maps 500 and 503 to a transient error, without retrying', async () => {
      fake.setFault({ kind: 'status', status: 500 });
      const err = await rejectionOf(llm.chat('analyzer', user('x')));
      expect(err).toBeInstanceOf(TransientUpstreamError);
      expect(err).toMatchObject({ status: 500, timedOut: false });
      fake.setFault({ kind: 'status', status: 503 });
      expect(await rejectionOf(llm.complete('generator', 'x'))).toBeInstanceOf(LlmUpstreamError);
      expect(fake.requests).toHaveLength(2);
    });

    it('turns a hanging server into a transient timeout within the configured timeout', async () => {
      llm = new LlmClient(configFor(fake, { timeoutMs: 300 }));
      fake.setFault({ kind: 'hang' });
      const started = Date.now();
      const err = await rejectionOf(llm.chat('analyzer', user('x')));
      const elapsed = Date.now() - started;
      expect(err).toBeInstanceOf(TransientUpstreamError);
      expect(err).toMatchObject({ timedOut: true });
      expect(err.message).toContain('timed out after 300 ms');
      expect(elapsed).toBeGreaterThanOrEqual(250);
      expect(elapsed).toBeLessThan(2_000);
      expect(fake.requests).toHaveLength(1);
    });

    it('honours a per-call timeout and an abort signal', async () => {
      fake.setFault({ kind: 'hang' });
      const started = Date.now();
      expect(await rejectionOf(llm.embed(['x'], { timeoutMs: 150 }))).toMatchObject({ timedOut: true });
      expect(Date.now() - started).toBeLessThan(2_000);
      const aborted = await rejectionOf(llm.chat('analyzer', user('x'), { signal: AbortSignal.timeout(100) }));
      expect(aborted).toBeInstanceOf(TransientUpstreamError);
    });

    it('maps a reset connection and a closed port to transient errors', async () => {
      fake.setFault({ kind: 'reset' });
      expect(await rejectionOf(llm.chat('analyzer', user('x')))).toBeInstanceOf(LlmUpstreamError);
      const gone = await FakeOpenAiServer.start();
      const url = gone.baseUrl;
      await gone.close();
      const offline = new LlmClient({ ...configFor(fake), baseUrl: url });
      expect(await rejectionOf(offline.chat('analyzer', user('x')))).toBeInstanceOf(LlmUpstreamError);
    });

    it('maps 401/403/404 to LlmConfigError and 400/422 to LlmRequestRejectedError: none retried by the queue', async () => {
      const wrongKey = new LlmClient(configFor(fake, { apiKey: 'sk-wrong-key-xxxxxxxxxxxxxxxx' }));
      const unauthorized = await rejectionOf(wrongKey.chat('analyzer', user('x')));
      expect(unauthorized).toBeInstanceOf(LlmConfigError);
      expect(unauthorized).toBeInstanceOf(ConfigError);
      expect((unauthorized as ConfigError).kind).toBe('config');

      for (const status of [403, 404]) {
        fake.setFault({ kind: 'status', status });
        expect(await rejectionOf(llm.chat('analyzer', user('x')))).toBeInstanceOf(LlmConfigError);
      }
      for (const status of [400, 422]) {
        fake.setFault({ kind: 'status', status, message: 'maximum context length exceeded' });
        const err = await rejectionOf(llm.chat('analyzer', user('x')));
        expect(err).toBeInstanceOf(LlmRequestRejectedError);
        expect((err as RescueError).kind).toBe('invalid-input');
        expect(err.message).toContain('maximum context length exceeded');
      }
    });
  });

  describe('token accounting', () => {
    it('keeps running totals per role, counting requests, failures and the tokens of failed answers', async () => {
      fake.script([
        { match: /one/, reply: 'a', usage: { promptTokens: 10, completionTokens: 2 } },
        { match: /two/, reply: 'b', usage: { promptTokens: 20, completionTokens: 4 } },
        { match: /cut/, reply: 'c', finishReason: 'length', usage: { promptTokens: 5, completionTokens: 256 } },
        { match: /vec/, usage: { promptTokens: 7, completionTokens: 0 } },
      ]);
      await llm.chat('analyzer', user('one'));
      await llm.complete('generator', 'two');
      await expect(llm.chat('summarizer', user('cut'))).rejects.toBeInstanceOf(LlmTruncatedError);
      await llm.embed(['vec']);
      fake.setFault({ kind: 'status', status: 500 }, 1);
      await expect(llm.chat('analyzer', user('one'))).rejects.toBeInstanceOf(TransientUpstreamError);

      const stats = llm.stats();
      expect(stats).toMatchObject({ requests: 5, cacheHits: 0, failures: 2, promptTokens: 42, completionTokens: 262, cacheWriteErrors: 0 });
      expect(stats.byRole.analyzer).toEqual({ requests: 2, cacheHits: 0, failures: 1, promptTokens: 10, completionTokens: 2 });
      expect(stats.byRole.generator).toEqual({ requests: 1, cacheHits: 0, failures: 0, promptTokens: 20, completionTokens: 4 });
      expect(stats.byRole.summarizer).toEqual({ requests: 1, cacheHits: 0, failures: 1, promptTokens: 5, completionTokens: 256 });
      expect(stats.byRole.embedder).toEqual({ requests: 1, cacheHits: 0, failures: 0, promptTokens: 7, completionTokens: 0 });
    });

    it('returns a snapshot, not the live counters', async () => {
      const before = llm.stats();
      await llm.chat('analyzer', user('x'));
      expect(before.requests).toBe(0);
      expect(before.byRole.analyzer.requests).toBe(0);
      expect(llm.stats().requests).toBe(1);
    });
  });

  describe('the API key', () => {
    it('never appears in any error message, even when the server echoes it', async () => {
      const echo = `Incorrect API key provided: ${TEST_API_KEY}.`;
      const errors: Error[] = [];
      const scenarios: [Parameters<FakeOpenAiServer['setFault']>[0], () => Promise<unknown>][] = [
        [{ kind: 'rate-limit', retryAfterSeconds: 1 }, () => llm.chat('analyzer', user('x'))],
        [{ kind: 'status', status: 500, message: echo }, () => llm.chat('analyzer', user('x'))],
        [{ kind: 'status', status: 401, message: echo }, () => llm.embed(['x'])],
        [{ kind: 'status', status: 400, message: echo }, () => llm.complete('generator', 'x')],
        [{ kind: 'status', status: 429, message: echo }, () => llm.chat('analyzer', user('x'))],
        [{ kind: 'truncate' }, () => llm.chat('analyzer', user('x'))],
        [{ kind: 'refusal', message: echo }, () => llm.chat('analyzer', user('x'))],
        [{ kind: 'reset' }, () => llm.chat('analyzer', user('x'))],
      ];
      for (const [fault, call] of scenarios) {
        fake.setFault(fault);
        errors.push(await rejectionOf(call()));
      }
      fake.setFault({ kind: 'hang' });
      errors.push(await rejectionOf(new LlmClient(configFor(fake, { timeoutMs: 100 })).chat('analyzer', user('x'))));
      fake.setFault(undefined);
      fake.script([{ match: /x/, reply: 'not json' }]);
      errors.push(await rejectionOf(llm.structured('analyzer', user('x'), z.object({ a: z.string() }))));
      errors.push(await rejectionOf(new LlmClient(configFor(fake, { apiKey: `${TEST_API_KEY}-other` })).chat('analyzer', user('x'))));

      expect(errors).toHaveLength(11);
      for (const err of errors) {
        expect(err.message).not.toContain(TEST_API_KEY);
        expect(String(err.stack)).not.toContain(TEST_API_KEY);
        expect(inspect(err, { depth: 5 })).not.toContain(TEST_API_KEY);
      }
      // The echoed key was replaced by its mask, so the message still says what went wrong.
      expect(errors[1].message).toContain('Incorrect API key provided: ****');
    });

    it('is not visible when the client or its description is printed', () => {
      expect(inspect(llm, { depth: 10, showHidden: true })).not.toContain(TEST_API_KEY);
      expect(JSON.stringify(llm)).not.toContain(TEST_API_KEY);
      expect(JSON.stringify(llm.describe())).not.toContain(TEST_API_KEY);
      expect(llm.describe().apiKey).toBe('****cdef');
    });
  });
});

describe('retryAfterMs', () => {
  const h = (init: Record<string, string>) => new Headers(init);

  it('reads retry-after-ms, retry-after seconds and retry-after dates', () => {
    expect(retryAfterMs(h({ 'retry-after-ms': '250' }))).toBe(250);
    expect(retryAfterMs(h({ 'retry-after': '1.5' }))).toBe(1_500);
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(retryAfterMs(h({ 'retry-after': 'Thu, 01 Jan 2026 00:00:10 GMT' }), now)).toBe(10_000);
    expect(retryAfterMs(h({ 'retry-after': 'Wed, 31 Dec 2025 00:00:00 GMT' }), now)).toBe(0);
  });

  it('is undefined without a usable header', () => {
    expect(retryAfterMs(undefined)).toBeUndefined();
    expect(retryAfterMs(h({}))).toBeUndefined();
    expect(retryAfterMs(h({ 'retry-after': 'soon' }))).toBeUndefined();
  });
});
