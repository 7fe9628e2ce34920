import type { IncomingMessage } from 'node:http';
import { authenticate } from './api-keys';
import { type AuthenticatedRequest, UNAUTHORIZED_MESSAGE } from './api-key.guard';
import type { ApiConfig } from './api.config';
import { type Middleware, hasBody, replyError } from './http-middleware';

/** Paths anyone may call: probes and the API description. */
export function isPublicPath(path: string, config: Pick<ApiConfig, 'METRICS_AUTH'>): boolean {
  return path.startsWith('/health/') || path === '/openapi.json' || path === '/docs' || path.startsWith('/docs/') || (path === '/metrics' && config.METRICS_AUTH === 'none');
}

/**
 * Checks the API key from the headers alone, before any body is read: a caller without a valid
 * key gets 401 at once and the connection is closed, so it cannot make the server read (or wait
 * for) a large body. Scopes are checked per route by ApiKeyGuard.
 */
export function authMiddleware(config: Pick<ApiConfig, 'API_KEYS' | 'METRICS_AUTH'>): Middleware {
  return (req, res, next) => {
    if (config.API_KEYS.length === 0) return next();
    const path = (req.url ?? '/').split('?')[0];
    const principal = authenticate(req.headers.authorization, config.API_KEYS);
    if (principal) {
      (req as IncomingMessage & AuthenticatedRequest).principal = principal;
      return next();
    }
    if (isPublicPath(path, config)) return next();
    replyError(res, 401, 'Unauthorized', UNAUTHORIZED_MESSAGE, { close: hasBody(req), headers: { 'www-authenticate': 'Bearer' } });
  };
}
