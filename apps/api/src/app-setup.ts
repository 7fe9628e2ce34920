import type { Server } from 'node:http';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { createLogger, Metrics } from '@rescue/observability';
import { PRODUCER_REDIS } from '@rescue/queue';
import type { Redis } from 'ioredis';
import type { ApiConfig } from './api.config';
import { authMiddleware } from './auth.middleware';
import { PinoNestLogger, httpMetrics, requestLogging } from './observability';
import { mountQueueBoard } from './queue-board';
import { rateLimit } from './rate-limit';
import { bodyDeadline, bodySizeCap, requestTimeout } from './request-limits';

/**
 * The HTTP pipeline in front of the controllers, in an order that matters: request id and log
 * line, metrics, the request timeout, the API key (from headers only), the rate limit, then the
 * body's size cap, its deadline and only then its parsing. So a caller without a key, or over its
 * budget, never makes the server read a body. The app must be created with `bodyParser: false`
 * (the JSON parser is added here, last). main.ts and the tests both call this.
 */
export function configureApiApp(app: NestExpressApplication, config: ApiConfig, opts: { logDestination?: NodeJS.WritableStream } = {}): void {
  const logger = createLogger({ app: 'api', level: config.LOG_LEVEL, destination: opts.logDestination });
  app.useLogger(new PinoNestLogger(logger));
  app.use(requestLogging(logger));
  app.use(httpMetrics(app.get(Metrics)));
  app.use(requestTimeout(config));
  app.use(authMiddleware(config));
  const limiter = rateLimit(config, app.get<Redis>(PRODUCER_REDIS));
  if (limiter) app.use(limiter);
  app.use(bodySizeCap(config));
  app.use(bodyDeadline(config));
  app.useBodyParser('json', { limit: config.API_BODY_LIMIT_BYTES });
  // bull-board at /admin/queues, behind the key checked above and the admin scope.
  mountQueueBoard(app, config);
}

/**
 * Node's own server limits, as a backstop behind the middleware (Node checks them only every
 * 30 s): headers within 10 s, the whole request within the body deadline plus the request
 * timeout, idle keep-alive connections closed after 5 s.
 */
export function configureServer(server: Server, config: ApiConfig): void {
  server.headersTimeout = 10_000;
  server.requestTimeout = config.API_BODY_DEADLINE_MS + config.API_REQUEST_TIMEOUT_MS;
  server.keepAliveTimeout = 5000;
}
