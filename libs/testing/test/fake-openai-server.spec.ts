import OpenAI from 'openai';
import { FakeOpenAiServer, fakeEmbedding } from '@rescue/testing';

// Protocol-level tests: raw fetch for what the fake sends on the wire, the real SDK where
// compatibility is the point.

async function post(fake: FakeOpenAiServer, path: string, body: unknown, init: RequestInit = {}): Promise<Response> {
  return fetch(`${fake.baseUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...init,
  });
}

function decodeBase64Float32(text: string): Float32Array {
  const buf = Buffer.from(text, 'base64');
  const out = new Float32Array(buf.length / 4);
  for (let i = 0; i < out.length; i += 1) out[i] = buf.readFloatLE(i * 4);
  return out;
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i += 1) s += a[i] * b[i];
  return s;
}

interface ChatBody {
  choices: { message: { content: string | null; refusal: string | null }; finish_reason: string }[];
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
  model: string;
}

const chat = (content: string, extra: Record<string, unknown> = {}) => ({ model: 'm-1', messages: [{ role: 'user', content }], ...extra });

describe('FakeOpenAiServer', () => {
  let fake: FakeOpenAiServer;

  beforeEach(async () => {
    fake = await FakeOpenAiServer.start();
  });

  afterEach(async () => {
    await fake.close();
  });

  it('listens on 127.0.0.1 only, under /v1', () => {
    expect(fake.baseUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/);
    expect(Number(new URL(fake.baseUrl).port)).toBeGreaterThan(0);
  });

  it('answers chat completions with the default reply, usage and the requested model, and records the request', async () => {
    const res = await post(fake, '/chat/completions', chat('hello there'), { headers: { 'content-type': 'application/json', authorization: 'Bearer k' } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as ChatBody;
    expect(body.choices[0].message.content).toBe('OK');
    expect(body.choices[0].finish_reason).toBe('stop');
    expect(body.model).toBe('m-1');
    expect(body.usage.prompt_tokens).toBeGreaterThan(0);
    expect(body.usage.total_tokens).toBe(body.usage.prompt_tokens + body.usage.completion_tokens);

    expect(fake.requests).toHaveLength(1);
    const [r] = fake.requests;
    expect(r).toMatchObject({ seq: 1, endpoint: 'chat', path: '/v1/chat/completions', model: 'm-1', prompt: 'hello there', status: 200, outcome: 'ok' });
    expect(r.headers.authorization).toBe('Bearer k');
    expect(r.body.messages).toEqual([{ role: 'user', content: 'hello there' }]);
    expect(r.endedAt).toBeGreaterThanOrEqual(r.startedAt);
  });

  it('checks rules in order (regex or predicate), honours times, and falls back to the default reply', async () => {
    fake.script([
      { match: /first/, reply: 'one', times: 1 },
      { match: /first|second/g, reply: (req) => `two:${req.model ?? ''}` },
      { match: (req) => req.body.temperature === 0, reply: 'cold' },
    ]);
    const texts: (string | null)[] = [];
    for (const body of [chat('first'), chat('first'), chat('the second'), chat('second'), chat('other', { temperature: 0 }), chat('other')]) {
      const res = (await (await post(fake, '/chat/completions', body)).json()) as ChatBody;
      texts.push(res.choices[0].message.content);
    }
    // The /g rule answers twice in a row: lastIndex must not make the second test fail.
    expect(texts).toEqual(['one', 'two:m-1', 'two:m-1', 'two:m-1', 'cold', 'OK']);
  });

  it('matches chat rules against all message contents, including content-part arrays', async () => {
    fake.script([{ match: /SYSTEM-MARK[\s\S]*USER-MARK/, reply: 'both' }]);
    const res = await post(fake, '/chat/completions', {
      model: 'm',
      messages: [
        { role: 'system', content: 'SYSTEM-MARK' },
        { role: 'user', content: [{ type: 'text', text: 'USER-MARK' }] },
      ],
    });
    expect(((await res.json()) as ChatBody).choices[0].message.content).toBe('both');
  });

  it('answers legacy completions', async () => {
    fake.script([{ match: /def add/, reply: '    return a + b' }]);
    const res = await post(fake, '/completions', { model: 'code-1', prompt: 'def add(a, b):\n' });
    const body = (await res.json()) as { object: string; choices: { text: string; finish_reason: string }[]; usage: { prompt_tokens: number } };
    expect(body.object).toBe('text_completion');
    expect(body.choices[0]).toMatchObject({ text: '    return a + b', finish_reason: 'stop' });
    expect(fake.requestsTo('completions')).toHaveLength(1);
  });

  describe('embeddings', () => {
    it('returns base64 little-endian float32 by default and when asked, deterministic and unit length', async () => {
      const res = await post(fake, '/embeddings', { model: 'e', input: ['sql injection in query', 'sql injection in query'] });
      const body = (await res.json()) as { data: { index: number; embedding: string }[]; usage: { prompt_tokens: number } };
      expect(body.data.map((d) => d.index)).toEqual([0, 1]);
      expect(typeof body.data[0].embedding).toBe('string');
      const v = decodeBase64Float32(body.data[0].embedding);
      expect(v).toHaveLength(64);
      expect(dot(v, v)).toBeCloseTo(1, 5);
      expect(body.data[1].embedding).toBe(body.data[0].embedding);
      expect(Array.from(v)).toEqual(Array.from(fakeEmbedding('sql injection in query', 64)));
      expect(body.usage.prompt_tokens).toBeGreaterThan(0);

      const explicit = (await (await post(fake, '/embeddings', { model: 'e', input: 'x', encoding_format: 'base64' })).json()) as { data: { embedding: string }[] };
      expect(typeof explicit.data[0].embedding).toBe('string');
    });

    it('returns float arrays for encoding_format "float" and honours dimensions', async () => {
      const res = await post(fake, '/embeddings', { model: 'e', input: 'path traversal', encoding_format: 'float', dimensions: 16 });
      const body = (await res.json()) as { data: { embedding: number[] }[] };
      expect(Array.isArray(body.data[0].embedding)).toBe(true);
      expect(body.data[0].embedding).toHaveLength(16);
      expect(body.data[0].embedding).toEqual(Array.from(fakeEmbedding('path traversal', 16)));
    });

    it('gives texts that share words a higher cosine than unrelated texts', () => {
      const a = fakeEmbedding('user input reaches the sql query string', 128);
      const b = fakeEmbedding('sql query built from user input', 128);
      const c = fakeEmbedding('buffer overflow in memcpy length', 128);
      expect(dot(a, b)).toBeGreaterThan(dot(a, c));
    });

    it('uses the configured default dimensions', async () => {
      const custom = await FakeOpenAiServer.start({ embeddingDimensions: 8 });
      try {
        const body = (await (await post(custom, '/embeddings', { model: 'e', input: 'abc', encoding_format: 'float' })).json()) as { data: { embedding: number[] }[] };
        expect(body.data[0].embedding).toHaveLength(8);
      } finally {
        await custom.close();
      }
    });
  });

  describe('faults', () => {
    it('answers 429 with retry-after (seconds) and retry-after-ms headers', async () => {
      fake.script([{ match: /slow down/, fault: { kind: 'rate-limit', retryAfterSeconds: 7, retryAfterMs: 6500 } }]);
      const res = await post(fake, '/chat/completions', chat('please slow down'));
      expect(res.status).toBe(429);
      expect(res.headers.get('retry-after')).toBe('7');
      expect(res.headers.get('retry-after-ms')).toBe('6500');
      const body = (await res.json()) as { error: { type: string; code: string } };
      expect(body.error).toMatchObject({ type: 'rate_limit_error', code: 'rate_limit_exceeded' });
      expect(fake.requests[0]).toMatchObject({ status: 429, outcome: 'error-status' });
    });

    it('answers any status with an OpenAI-shaped error body', async () => {
      fake.script([{ match: /boom/, fault: { kind: 'status', status: 500, message: 'upstream exploded' } }]);
      const res = await post(fake, '/chat/completions', chat('boom'));
      expect(res.status).toBe(500);
      expect(((await res.json()) as { error: { message: string } }).error.message).toBe('upstream exploded');
    });

    it('truncates with finish_reason "length", by fault or by rule', async () => {
      fake.script([
        { match: /cut/, reply: '{"guidelines": ["a very long answer"]}', fault: { kind: 'truncate' } },
        { match: /flag/, reply: 'whole text', finishReason: 'length' },
      ]);
      const cut = (await (await post(fake, '/chat/completions', chat('cut'))).json()) as ChatBody;
      expect(cut.choices[0].finish_reason).toBe('length');
      const full = '{"guidelines": ["a very long answer"]}';
      expect(cut.choices[0].message.content).toBe(full.slice(0, Math.floor(full.length / 2)));
      const flagged = (await (await post(fake, '/chat/completions', chat('flag'))).json()) as ChatBody;
      expect(flagged.choices[0]).toMatchObject({ finish_reason: 'length', message: { content: 'whole text' } });
      expect(fake.requests.map((r) => r.outcome)).toEqual(['truncated', 'truncated']);
    });

    it('refuses with a refusal message and no content', async () => {
      fake.script([
        { match: /exploit/, refusal: 'I cannot help with exploits.' },
        { match: /other/, fault: { kind: 'refusal' } },
      ]);
      const a = (await (await post(fake, '/chat/completions', chat('write an exploit'))).json()) as ChatBody;
      expect(a.choices[0].message).toMatchObject({ content: null, refusal: 'I cannot help with exploits.' });
      const b = (await (await post(fake, '/chat/completions', chat('other'))).json()) as ChatBody;
      expect(b.choices[0].message.refusal).toMatch(/can't help/);
      expect(fake.requests[0].outcome).toBe('refusal');
    });

    it('hangs until the client gives up, and records when it did', async () => {
      fake.script([{ match: /wait/, fault: { kind: 'hang' } }]);
      const started = Date.now();
      await expect(post(fake, '/chat/completions', chat('wait forever'), { signal: AbortSignal.timeout(200) })).rejects.toThrow();
      expect(Date.now() - started).toBeLessThan(2_000);
      await waitFor(() => fake.requests[0]?.endedAt !== undefined);
      expect(fake.requests[0]).toMatchObject({ outcome: 'hang', status: undefined });
    });

    it('resets the connection', async () => {
      fake.script([{ match: /reset/, fault: { kind: 'reset' } }]);
      await expect(post(fake, '/chat/completions', chat('reset me'))).rejects.toThrow();
      expect(fake.requests[0].outcome).toBe('reset');
    });

    it('applies a global fault to the next N requests whatever rule matches; a rule fault wins', async () => {
      fake.script([
        { match: /special/, reply: 'rule' },
        { match: /limited/, fault: { kind: 'rate-limit', retryAfterSeconds: 1 } },
      ]);
      fake.setFault({ kind: 'status', status: 503 }, 2);
      const statuses: number[] = [];
      for (const text of ['limited', 'special', 'b', 'c', 'special']) statuses.push((await post(fake, '/chat/completions', chat(text))).status);
      // 'limited' used its rule's fault, so the two global 503s went to the next two requests.
      expect(statuses).toEqual([429, 503, 503, 200, 200]);
    });

    it('applies a fault given at start to every request until cleared', async () => {
      const faulty = await FakeOpenAiServer.start({ fault: { kind: 'status', status: 502 } });
      try {
        expect((await post(faulty, '/embeddings', { model: 'e', input: 'x' })).status).toBe(502);
        expect((await post(faulty, '/embeddings', { model: 'e', input: 'x' })).status).toBe(502);
        faulty.setFault(undefined);
        expect((await post(faulty, '/embeddings', { model: 'e', input: 'x' })).status).toBe(200);
      } finally {
        await faulty.close();
      }
    });
  });

  it('adds latency and records overlapping requests for concurrency assertions', async () => {
    fake.setLatency(150);
    await Promise.all([post(fake, '/chat/completions', chat('a')), post(fake, '/chat/completions', chat('b')), post(fake, '/chat/completions', chat('c'))]);
    expect(fake.maxConcurrency).toBe(3);
    const [a, b] = fake.requests;
    expect(a.endedAt! - a.startedAt).toBeGreaterThanOrEqual(140);
    // The intervals overlap: each started before the other ended.
    expect(a.startedAt).toBeLessThan(b.endedAt!);
    expect(b.startedAt).toBeLessThan(a.endedAt!);

    fake.clearRequests();
    fake.setLatency(0);
    fake.script([{ match: /slow/, reply: 'late', latencyMs: 60 }]);
    await post(fake, '/chat/completions', chat('slow'));
    await post(fake, '/chat/completions', chat('fast'));
    expect(fake.maxConcurrency).toBe(1);
    expect(fake.requests).toHaveLength(2);
    expect(fake.requests[0].endedAt! - fake.requests[0].startedAt).toBeGreaterThanOrEqual(50);
  });

  it('holds answers until the asked-for number of requests is in flight, once; a client that never gets there is let go at the timeout', async () => {
    fake.holdUntilInFlight(3, 30_000);
    const first = post(fake, '/chat/completions', chat('a'));
    const second = post(fake, '/chat/completions', chat('b'));
    let settled = false;
    void Promise.all([first, second]).then(() => (settled = true));
    await waitFor(() => fake.requests.length === 2);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(settled).toBe(false); // two in flight: both still held
    await Promise.all([first, second, post(fake, '/chat/completions', chat('c'))]);
    expect(fake.maxConcurrency).toBe(3);
    // Once released, the barrier is gone: a lone request is answered at once.
    expect((await post(fake, '/chat/completions', chat('d'))).status).toBe(200);

    fake.clearRequests();
    fake.holdUntilInFlight(5, 200);
    const lone = await post(fake, '/chat/completions', chat('e'));
    expect(lone.status).toBe(200);
    expect(fake.requests[0].endedAt! - fake.requests[0].startedAt).toBeGreaterThanOrEqual(150);
    expect(fake.maxConcurrency).toBe(1);
  });

  it('requires the bearer key when configured', async () => {
    const secured = await FakeOpenAiServer.start({ apiKey: 'sk-right' });
    try {
      expect((await post(secured, '/chat/completions', chat('x'))).status).toBe(401);
      const ok = await post(secured, '/chat/completions', chat('x'), { headers: { 'content-type': 'application/json', authorization: 'Bearer sk-right' } });
      expect(ok.status).toBe(200);
    } finally {
      await secured.close();
    }
  });

  it('answers 404 for unknown endpoints and 400 for malformed JSON', async () => {
    expect((await post(fake, '/moderations', { input: 'x' })).status).toBe(404);
    expect((await fetch(`${fake.baseUrl}/models`)).status).toBe(404);
    expect((await post(fake, '/chat/completions', '{not json')).status).toBe(400);
    expect((await post(fake, '/embeddings', { model: 'e', input: [] })).status).toBe(400);
  });

  it('works with the real openai SDK, including streamed chat', async () => {
    fake.script([{ match: /stream me/, reply: 'streamed text' }]);
    const client = new OpenAI({ baseURL: fake.baseUrl, apiKey: 'test-key', maxRetries: 0, logLevel: 'off' });
    const stream = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'stream me' }], stream: true });
    let text = '';
    let finish: string | null = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(text).toBe('streamed text');
    expect(finish).toBe('stop');

    const emb = await client.embeddings.create({ model: 'e', input: ['abc'] });
    // The SDK asked for base64 by itself and decoded it.
    expect(fake.requests[1].body.encoding_format).toBe('base64');
    expect(emb.data[0].embedding).toHaveLength(64);
    expect(emb.data[0].embedding[0]).toBeCloseTo(fakeEmbedding('abc', 64)[0], 6);
  });

  it('closes promptly even with a request hanging', async () => {
    fake.setFault({ kind: 'hang' });
    const pending = post(fake, '/chat/completions', chat('x')).catch((err: unknown) => err);
    await waitFor(() => fake.requests.length === 1);
    const started = Date.now();
    await fake.close();
    expect(Date.now() - started).toBeLessThan(1_000);
    // fetch rejects with a TypeError from Node's realm, which is not jest's Error class.
    expect(String(await pending)).toMatch(/fetch failed|terminated|socket/i);
  });
});

async function waitFor(predicate: () => boolean, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
