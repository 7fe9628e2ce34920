import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { loadConfig, redisEnv } from '@rescue/config';

/** The Redis the test run uses (tools/jest-global-setup.js found or started it). */
export function testRedisUrl(): string {
  return loadConfig(redisEnv).REDIS_URL;
}

/** A key/queue prefix no other test shares. */
export function uniquePrefix(label = 'test'): string {
  return `rescue-${label}-${randomUUID().slice(0, 8)}`;
}

/** Deletes every key under `prefix:`; tests call it in afterEach/afterAll. */
export async function deletePrefix(prefix: string, url = testRedisUrl()): Promise<number> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  let deleted = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) deleted += await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return deleted;
}
