import type { IncomingMessage } from 'node:http';
import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { AuthenticatedRequest } from './api-key.guard';
import type { ApiConfig } from './api.config';
import { type Middleware, replyError } from './http-middleware';

/**
 * Requests per key and minute, counted in Redis so every API replica shares one budget
 * (rate-limiter-flexible). While Redis is unreachable each replica counts in memory instead
 * (its insurance limiter), so the limit still holds per replica. Runs after authentication and
 * before the body is read: a caller over its budget costs one counter increment.
 */
export function rateLimit(config: Pick<ApiConfig, 'API_RATE_LIMIT_PER_MINUTE' | 'QUEUE_PREFIX'>, redis: Redis): Middleware | undefined {
  const points = config.API_RATE_LIMIT_PER_MINUTE;
  if (points === 0) return undefined;
  const limiter = new RateLimiterRedis({
    storeClient: redis,
    keyPrefix: `${config.QUEUE_PREFIX}:api-rate`,
    points,
    duration: 60,
    rejectIfRedisNotReady: true,
    insuranceLimiter: new RateLimiterMemory({ points, duration: 60 }),
  });
  return (req, res, next) => {
    // Probes are never limited: a 429 to the kubelet would take a healthy pod out of service.
    if ((req.url ?? '').startsWith('/health/')) return next();
    const key = bucketOf(req);
    limiter.consume(key).then(
      (r) => {
        res.setHeader('RateLimit-Limit', String(points));
        res.setHeader('RateLimit-Remaining', String(Math.max(0, r.remainingPoints)));
        next();
      },
      (r: unknown) => {
        if (!(r instanceof RateLimiterRes)) return next(r);
        const seconds = Math.max(1, Math.ceil(r.msBeforeNext / 1000));
        replyError(res, 429, 'rate-limited', `over ${points} requests a minute for this key (API_RATE_LIMIT_PER_MINUTE); retry in ${seconds} s`, {
          close: true,
          headers: { 'retry-after': String(seconds), 'ratelimit-limit': String(points), 'ratelimit-remaining': '0' },
        });
      },
    );
  };
}

/** The key's id when there is one (never the key), else the client address. */
function bucketOf(req: IncomingMessage): string {
  const principal = (req as IncomingMessage & AuthenticatedRequest).principal;
  return principal ? `key:${principal.keyId}` : `ip:${req.socket.remoteAddress ?? 'unknown'}`;
}
