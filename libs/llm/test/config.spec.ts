import { llmEnv, loadConfig } from '@rescue/config';
import { ConfigError } from '@rescue/domain';
import { CachedLlm, describeLlmConfig, LlmClient, llmCacheSettingsFromEnv, llmConfigFromEnv, llmFromEnv, maskSecret, redactSecret } from '@rescue/llm';

const KEY = 'sk-proj-abcdefghijklmnopqrstuvwxyz';

describe('llm configuration', () => {
  it('means "no LLM" when LLM_BASE_URL is unset (or empty)', () => {
    const env = loadConfig(llmEnv, { LLM_BASE_URL: '', LLM_API_KEY: KEY });
    expect(llmConfigFromEnv(env)).toBeUndefined();
    expect(llmFromEnv(env)).toBeUndefined();
  });

  it('reads every setting, with LLM_MODEL as the fallback model of the text roles', () => {
    const env = loadConfig(llmEnv, {
      LLM_BASE_URL: 'http://127.0.0.1:8080/v1',
      LLM_API_KEY: KEY,
      LLM_MODEL: 'qwen2.5-coder',
      LLM_MODEL_SUMMARIZER: 'gpt-4o',
      LLM_TIMEOUT_MS: '30000',
      LLM_MAX_TOKENS: '1024',
      LLM_MAX_TOKENS_PARAM: 'max_tokens',
      LLM_STRUCTURED_MODE: 'json_object',
      LLM_EMBEDDING_DIMENSIONS: '256',
    });
    expect(llmConfigFromEnv(env)).toEqual({
      baseUrl: 'http://127.0.0.1:8080/v1',
      apiKey: KEY,
      models: { summarizer: 'gpt-4o', analyzer: 'qwen2.5-coder', generator: 'qwen2.5-coder', embedder: 'text-embedding-3-small' },
      timeoutMs: 30_000,
      maxTokens: 1024,
      maxTokensParam: 'max_tokens',
      structuredMode: 'json_object',
      embeddingDimensions: 256,
    });
  });

  it('has defaults for everything but the URL', () => {
    const env = loadConfig(llmEnv, { LLM_BASE_URL: 'https://api.openai.com/v1' });
    expect(env).toMatchObject({ LLM_TIMEOUT_MS: 120_000, LLM_MAX_TOKENS: 2048, LLM_CACHE: 'fs', LLM_STRUCTURED_MODE: 'json_schema' });
    expect(llmConfigFromEnv(env)?.apiKey).toBeUndefined();
    expect(llmCacheSettingsFromEnv(env, '/data')).toEqual({ kind: 'fs', dir: '/data/llm-cache' });
    expect(llmCacheSettingsFromEnv(loadConfig(llmEnv, { LLM_CACHE_DIR: '/c', LLM_CACHE: 'memory' }))).toEqual({ kind: 'memory', dir: '/c' });
  });

  it('lists invalid settings without printing the key', () => {
    let error: unknown;
    try {
      loadConfig(llmEnv, { LLM_BASE_URL: 'not a url', LLM_TIMEOUT_MS: '5', LLM_API_KEY: KEY, LLM_CACHE: 'redis' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems.map((p) => p.split('=')[0]).sort()).toEqual(['LLM_BASE_URL', 'LLM_CACHE', 'LLM_TIMEOUT_MS']);
    expect((error as ConfigError).message).not.toContain(KEY);
  });

  it('builds a client from the environment behind the configured cache, or bare with LLM_CACHE=none', () => {
    const env = loadConfig(llmEnv, { LLM_BASE_URL: 'http://127.0.0.1:1/v1', LLM_CACHE: 'memory' });
    const cached = llmFromEnv(env);
    expect(cached).toBeInstanceOf(CachedLlm);
    expect(cached?.describe()).toMatchObject({ baseUrl: 'http://127.0.0.1:1/v1', apiKey: '(unset)' });
    expect(cached?.modelFor('embedder')).toBe('text-embedding-3-small');
    expect(llmFromEnv(loadConfig(llmEnv, { LLM_BASE_URL: 'http://127.0.0.1:1/v1', LLM_CACHE: 'fs' }), { dataDir: '/tmp/rescue-unused' })).toBeInstanceOf(CachedLlm);
    expect(llmFromEnv(loadConfig(llmEnv, { LLM_BASE_URL: 'http://127.0.0.1:1/v1', LLM_CACHE: 'none' }))).toBeInstanceOf(LlmClient);
  });

  it('rejects an unusable configuration with a ConfigError listing every problem', () => {
    let error: unknown;
    try {
      new LlmClient({ baseUrl: 'ftp://x', timeoutMs: 0, maxTokens: -1, models: { summarizer: 's', analyzer: '', generator: 'g', embedder: 'e' } });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toHaveLength(4);
  });
});

describe('secret masking', () => {
  it('masks long keys to their last four characters and short ones entirely', () => {
    expect(maskSecret(KEY)).toBe('****wxyz');
    expect(maskSecret('short-key')).toBe('****');
    expect(maskSecret(undefined)).toBe('(unset)');
  });

  it('redacts every occurrence', () => {
    expect(redactSecret(`a ${KEY} b ${KEY}`, KEY)).toBe('a ****wxyz b ****wxyz');
    expect(redactSecret('nothing here', KEY)).toBe('nothing here');
    expect(redactSecret('text', undefined)).toBe('text');
  });

  it('describeLlmConfig never carries the key', () => {
    const described = describeLlmConfig({ baseUrl: 'http://x/v1', apiKey: KEY, timeoutMs: 1, maxTokens: 1, models: { summarizer: 'a', analyzer: 'b', generator: 'c', embedder: 'd' } });
    expect(JSON.stringify(described)).not.toContain(KEY);
  });
});
