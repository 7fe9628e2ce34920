import { ConfigError } from '@rescue/domain';
import { elasticsearchEnv, ingestEnv, loadConfig, redisEnv, stageEnv, storageEnv } from '@rescue/config';

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
    expect(loadConfig(elasticsearchEnv, { ELASTICSEARCH_URL: 'https://es.internal:9200', ELASTICSEARCH_PREFIX: 'acme-kb' })).toEqual({ ELASTICSEARCH_URL: 'https://es.internal:9200', ELASTICSEARCH_PREFIX: 'acme-kb' });
    expect(() => loadConfig(elasticsearchEnv, { ELASTICSEARCH_URL: 'es.internal', ELASTICSEARCH_PREFIX: 'Acme/*' })).toThrow(/ELASTICSEARCH_URL[\s\S]*ELASTICSEARCH_PREFIX/);
  });
});
