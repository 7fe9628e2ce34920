import { Redis, type RedisOptions } from 'ioredis';
import { ConfigError, TransientUpstreamError } from '@rescue/domain';

/**
 * `worker`: blocking commands must wait out Redis restarts, so requests never give up
 * (`maxRetriesPerRequest: null`, BullMQ's production guide).
 * `producer`: an HTTP handler or CLI must fail fast when Redis is down instead of queueing
 * commands in memory (`enableOfflineQueue: false`).
 */
export type ConnectionRole = 'worker' | 'producer';

/** ioredis options from a `redis://` or `rediss://` URL (user, password, db, TLS). */
export function redisOptionsFromUrl(url: string): RedisOptions {
  const u = new URL(url);
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new ConfigError([`REDIS_URL must start with redis:// or rediss://, got ${u.protocol}//`]);
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0;
  return {
    host: u.hostname || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    db: Number.isInteger(db) ? db : 0,
    tls: u.protocol === 'rediss:' ? {} : undefined,
  };
}

export function connectionOptions(role: ConnectionRole, url: string): RedisOptions {
  const base = redisOptionsFromUrl(url);
  return role === 'worker' ? { ...base, maxRetriesPerRequest: null } : { ...base, maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 5000 };
}

/**
 * A connected client. It resolves only once Redis answers, and gives up at once when the first
 * connection fails (no reconnect loop before it ever worked), so a CLI or API start fails fast
 * with the real cause. Once connected, it reconnects with a capped backoff.
 */
export async function connectRedis(role: ConnectionRole, url: string): Promise<Redis> {
  let everConnected = false;
  let lastError: Error | undefined;
  const redis = new Redis({
    ...connectionOptions(role, url),
    lazyConnect: true,
    retryStrategy: (times) => (everConnected ? Math.min(times * 200, 5000) : null),
  });
  // Without a listener ioredis prints "Unhandled error event"; the cause is reported by the caller.
  redis.on('error', (err: Error) => {
    lastError = err;
  });
  try {
    await redis.connect();
    everConnected = true;
  } catch (err) {
    redis.disconnect();
    const cause = lastError ?? (err as Error);
    throw new TransientUpstreamError(`cannot connect to Redis at ${new URL(url).host}: ${cause.message}`, { cause });
  }
  return redis;
}
