import { type LlmCallEvent, LlmClient, onLlmCall } from '@rescue/llm';
import { FakeOpenAiServer } from '@rescue/testing';
import { TEST_API_KEY, configFor, rejectionOf } from './helpers';

describe('onLlmCall (the metrics hook)', () => {
  let fake: FakeOpenAiServer;
  const events: LlmCallEvent[] = [];
  let off: () => void;
  beforeAll(async () => {
    fake = await FakeOpenAiServer.start({
      rules: [
        { match: /rate me/, fault: { kind: 'status', status: 429, message: 'slow down' } },
        { match: /cut me/, reply: 'half an answ', finishReason: 'length', usage: { promptTokens: 5, completionTokens: 9 } },
        { match: /.*/, reply: 'fine', usage: { promptTokens: 11, completionTokens: 3 } },
      ],
    });
    off = onLlmCall((e) => events.push(e));
  });
  afterAll(async () => {
    off();
    await fake.close();
  });
  beforeEach(() => (events.length = 0));

  it('reports each request with role, outcome, time and tokens, and never its text or key', async () => {
    const llm = new LlmClient(configFor(fake));
    await llm.chat('generator', [{ role: 'user', content: 'hello there' }]);
    expect(events).toEqual([{ kind: 'request', role: 'generator', endpoint: 'chat', model: 'gen-model', outcome: 'ok', seconds: expect.any(Number), promptTokens: 11, completionTokens: 3 }]);
    expect(JSON.stringify(events)).not.toContain('hello there');
    expect(JSON.stringify(events)).not.toContain(TEST_API_KEY);
  });

  it('reports a failed request by its error class', async () => {
    const llm = new LlmClient(configFor(fake));
    const err = await rejectionOf(llm.chat('summarizer', [{ role: 'user', content: 'rate me' }]));
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ role: 'summarizer', outcome: err.name });
    expect(err.name).toBe('RateLimitedError');
  });

  it('reports an answer refused after a successful request as an output failure, once', async () => {
    const llm = new LlmClient(configFor(fake));
    const err = await rejectionOf(llm.chat('generator', [{ role: 'user', content: 'cut me' }]));
    expect(err.name).toBe('LlmTruncatedError');
    expect(events).toEqual([
      expect.objectContaining({ kind: 'request', outcome: 'ok', promptTokens: 5, completionTokens: 9 }),
      expect.objectContaining({ kind: 'output', role: 'generator', outcome: 'LlmTruncatedError' }),
    ]);
  });

  it('an observer that throws does not fail the call; unsubscribing stops the calls', async () => {
    const offBad = onLlmCall(() => {
      throw new Error('observer bug');
    });
    const llm = new LlmClient(configFor(fake));
    await expect(llm.chat('generator', [{ role: 'user', content: 'x' }])).resolves.toMatchObject({ text: 'fine' });
    offBad();
    off();
    await llm.chat('generator', [{ role: 'user', content: 'y' }]);
    expect(events).toHaveLength(1);
    off = onLlmCall((e) => events.push(e));
  });
});
