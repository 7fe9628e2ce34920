import { llmEnv, loadConfig } from '@rescue/config';
import { type Llm, llmFromEnv } from '@rescue/llm';
import { LlmEmbedder, cosine } from '@rescue/retrieval';
import { FakeOpenAiServer } from '@rescue/testing';

describe('LlmEmbedder (the embedder port over an OpenAI-compatible endpoint)', () => {
  let fake: FakeOpenAiServer;
  beforeAll(async () => {
    fake = await FakeOpenAiServer.start({ embeddingDimensions: 16 });
  });
  afterAll(() => fake.close());

  it('returns unit vectors from the endpoint (base64 on the wire), zero for empty text, and describes its model', async () => {
    const llm = llmFromEnv(loadConfig(llmEnv, { LLM_BASE_URL: fake.baseUrl, LLM_API_KEY: 'k', LLM_MODEL: 'm', LLM_MODEL_EMBEDDER: 'embed-small', LLM_CACHE: 'none' })) as Llm;
    const embedder = new LlmEmbedder(llm, 'embed-small');
    const [a, empty, b, c] = await embedder.embed(['sql query parameter', '  ', 'sql query parameter binding', 'html escape output']);
    expect(embedder.dimensions).toBe(16);
    expect(Math.hypot(...a)).toBeCloseTo(1, 5);
    expect(Array.from(empty)).toEqual(new Array(16).fill(0));
    expect(cosine(a, b)).toBeGreaterThan(cosine(a, c));
    expect(embedder.describe()).toEqual({ id: 'openai-compatible', dimensions: 16, params: { model: 'embed-small' } });
    const sent = fake.requestsTo('embeddings');
    expect(sent).toHaveLength(1);
    expect((sent[0].body as { input: string[] }).input).toEqual(['sql query parameter', 'sql query parameter binding', 'html escape output']);
  });
});
