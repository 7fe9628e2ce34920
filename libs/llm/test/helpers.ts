import type { FakeOpenAiServer } from '@rescue/testing';
import type { LlmConfig } from '@rescue/llm';

/** A key long enough that maskSecret shows its tail; tests assert it never appears in full. */
export const TEST_API_KEY = 'sk-test-DO-NOT-LEAK-0123456789abcdef';

/** A client configuration pointing at the fake server. */
export function configFor(fake: FakeOpenAiServer, overrides: Partial<LlmConfig> = {}): LlmConfig {
  return {
    baseUrl: fake.baseUrl,
    apiKey: TEST_API_KEY,
    models: { summarizer: 'sum-model', analyzer: 'ana-model', generator: 'gen-model', embedder: 'emb-model' },
    timeoutMs: 5_000,
    maxTokens: 256,
    ...overrides,
  };
}

/** The error a promise rejects with (fails the test when it resolves). */
export async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof Error) return err;
    throw new Error(`rejected with a non-Error: ${String(err)}`);
  }
  throw new Error('expected the promise to reject');
}
