import { ConfigError } from '@rescue/domain';
import { elasticsearchEnv, ingestEnv, llmEnv, loadConfig, maskCredentials, redisEnv, stageEnv, storageEnv } from '@rescue/config';

const schema = redisEnv.extend(storageEnv.shape).extend(ingestEnv.shape).extend(stageEnv('INGEST').shape);

describe('loadConfig', () => {
  it('applies defaults and treats empty strings as unset', () => {
    const c = loadConfig(schema, { REDIS_URL: '', INGEST_CONCURRENCY: '7' });
    expect(c.REDIS_URL).toBe('redis://127.0.0.1:6379');
    expect(c.QUEUE_PREFIX).toBe('rescue');
    expect(c.INGEST_CONCURRENCY).toBe(7);
    expect(c.INGEST_ATTEMPTS).toBe(5);
    expect(c.RECORD_STORE).toBe('fs');
  });

  it('lists every invalid key with its value and the rule, not just the first', () => {
    let error: unknown;
    try {
      loadConfig(schema, { REDIS_URL: 'not a url', QUEUE_PREFIX: 'a:b', RECORD_STORE: 'postgres', INGEST_CONCURRENCY: '0', INGEST_MAX_LINE_BYTES: 'big' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    const keys = problems.map((p) => p.split('=')[0]);
    expect(keys.sort()).toEqual(['INGEST_CONCURRENCY', 'INGEST_MAX_LINE_BYTES', 'QUEUE_PREFIX', 'RECORD_STORE', 'REDIS_URL']);
    expect(problems.find((p) => p.startsWith('QUEUE_PREFIX'))).toContain('"a:b"');
  });

  it('never prints the value of a secret-looking key', () => {
    const withSecret = redisEnv.extend({ LLM_API_KEY: redisEnv.shape.REDIS_URL });
    try {
      loadConfig(withSecret, { LLM_API_KEY: 'sk-very-secret' });
      throw new Error('expected a ConfigError');
    } catch (err) {
      expect((err as ConfigError).message).not.toContain('sk-very-secret');
      expect((err as ConfigError).message).toContain('LLM_API_KEY=(hidden)');
    }
  });

  it('reads where to search a KB published to Elasticsearch, with a safe index prefix', () => {
    expect(loadConfig(elasticsearchEnv, {})).toEqual({ ELASTICSEARCH_PREFIX: 'rescue' });
    expect(loadConfig(elasticsearchEnv, { ELASTICSEARCH_URL: 'https://es.internal:9200', ELASTICSEARCH_PREFIX: 'acme-kb' })).toEqual({
      ELASTICSEARCH_URL: 'https://es.internal:9200',
      ELASTICSEARCH_PREFIX: 'acme-kb',
    });
    expect(() => loadConfig(elasticsearchEnv, { ELASTICSEARCH_URL: 'es.internal', ELASTICSEARCH_PREFIX: 'Acme/*' })).toThrow(/ELASTICSEARCH_URL[\s\S]*ELASTICSEARCH_PREFIX/);
  });
  it('masks the credentials of an invalid URL in every URL setting, keeping what locates the fault', () => {
    const schema = redisEnv.extend(elasticsearchEnv.shape).extend(llmEnv.shape);
    const env = {
      REDIS_URL: 'redis://admin:r3dis-pass@cache.internal:notaport/0',
      ELASTICSEARCH_URL: 'https://elastic:es-pass@es.internal:99999',
      LLM_BASE_URL: 'https://llm.example:70000/v1?api_key=sk-query-secret&x=1',
    };
    let message = '';
    try {
      loadConfig(schema, env);
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      message = (err as ConfigError).message;
    }
    for (const secret of ['admin', 'r3dis-pass', 'elastic', 'es-pass', 'sk-query-secret']) expect(message).not.toContain(secret);
    expect(message).toContain('REDIS_URL="redis://***@cache.internal:notaport/0"');
    expect(message).toContain('ELASTICSEARCH_URL="https://***@es.internal:99999"');
    expect(message).toContain('LLM_BASE_URL="https://llm.example:70000/v1?api_key=***&x=1"');
  });

  it.each([
    ['redis://:p@ss/w0rd@host:6379', 'redis://***@host:6379'],
    ['https://token@host/a?token=abc&keep=1#f', 'https://***@host/a?token=***&keep=1#f'],
    ['https://h/x?sig=abc;key=def', 'https://h/x?sig=***;key=***'],
    ['http://host:9200/path', 'http://host:9200/path'],
  ])('masks %s as %s', (raw, masked) => {
    expect(maskCredentials(raw)).toBe(masked);
  });

  it('has bounded rate-limit and queue-wait settings by default', () => {
    expect(loadConfig(redisEnv, {})).toMatchObject({ RATE_LIMIT_CAP_MS: 60_000, RATE_LIMIT_RETRIES: 20, QUEUE_WAIT_TIMEOUT_MS: 60_000 });
    expect(() => loadConfig(redisEnv, { QUEUE_WAIT_TIMEOUT_MS: '10' })).toThrow(/QUEUE_WAIT_TIMEOUT_MS/);
  });
});
