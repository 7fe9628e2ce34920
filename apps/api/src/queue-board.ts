import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { QUEUE_CONSUMER, QueueName } from '@rescue/contracts';
import { PipelineQueue } from '@rescue/queue';
import type { AuthenticatedRequest } from './api-key.guard';
import type { ApiConfig } from './api.config';
import { type Middleware, replyError } from './http-middleware';

/** Where bull-board is served. */
export const QUEUE_BOARD_PATH = '/admin/queues';

/**
 * Only an admin-scoped key may see or act on the queues. The auth middleware (auth.middleware.ts)
 * has already answered 401 to a request without a valid key and set its principal; this adds the
 * scope. Without API_KEYS the whole API is open (loopback only), and so is the board.
 *
 * The key comes from the Authorization header only, never a cookie or a query parameter: the board
 * can retry, remove and clean jobs and pause queues, and a cookie would be an ambient credential
 * any page the operator visits could ride (CSRF), while a key in a URL ends up in logs and history.
 * A browser reaches it through something that adds the header (README "Run as services").
 */
function requireAdmin(config: Pick<ApiConfig, 'API_KEYS'>): Middleware {
  return (req, res, next) => {
    if (config.API_KEYS.length === 0) return next();
    const principal = (req as typeof req & AuthenticatedRequest).principal;
    if (principal?.scopes.has('admin')) return next();
    if (!principal) return replyError(res, 401, 'Unauthorized', 'send "Authorization: Bearer <key>" with an admin-scoped key from API_KEYS', { headers: { 'www-authenticate': 'Bearer' } });
    replyError(res, 403, 'Forbidden', `this key (id ${principal.keyId}) lacks the admin scope ${QUEUE_BOARD_PATH} needs`);
  };
}

/**
 * The board's pages load only from the API itself. bull-board 9.10's page links a Google Fonts
 * stylesheet: refused here (the page falls back to local fonts), so opening the board tells no
 * third party and works in clusters without internet access. Its inline styles need
 * 'unsafe-inline' for styles only; no inline script runs. frame-ancestors 'none': a page that can
 * delete jobs must not be framed by another site (clickjacking).
 */
const BOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const securityHeaders: Middleware = (_req, res, next) => {
  res.setHeader('content-security-policy', BOARD_CSP);
  res.setHeader('x-content-type-options', 'nosniff');
  res.setHeader('referrer-policy', 'no-referrer');
  next();
};

/**
 * bull-board at /admin/queues over every pipeline queue (libs/contracts QueueName) under the
 * configured QUEUE_PREFIX, through the API's own producer connection (PipelineQueue), so the board
 * shows exactly the queues the workers consume and opens no Redis connection of its own.
 */
export function mountQueueBoard(app: NestExpressApplication, config: Pick<ApiConfig, 'API_KEYS' | 'QUEUE_PREFIX'>): void {
  const pipeline = app.get(PipelineQueue);
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(QUEUE_BOARD_PATH);
  createBullBoard({
    queues: Object.values(QueueName).map((name) => new BullMQAdapter(pipeline.queue(name), { description: `consumed by the ${QUEUE_CONSUMER[name]} worker` })),
    serverAdapter,
    options: { uiConfig: { boardTitle: `Rescue queues (${config.QUEUE_PREFIX})` } },
  });
  app.use(QUEUE_BOARD_PATH, requireAdmin(config), securityHeaders, serverAdapter.getRouter());
}
