import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { LoggerService } from '@nestjs/common';
import { type Logger, Metrics } from '@rescue/observability';
import { pinoHttp } from 'pino-http';
import type { Middleware } from './http-middleware';

/** The Nest-injectable pino logger of the API process. */
export const API_LOGGER = Symbol('API_LOGGER');

/** A caller's request id is kept when it is a plain token; anything else is replaced (log injection). */
export function requestIdOf(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && /^[A-Za-z0-9._:-]{1,100}$/.test(given) ? given : randomUUID();
}

/** One JSON line per request with its id, route, status and time; the id is echoed as X-Request-Id. */
export function requestLogging(logger: Logger): Middleware {
  const http = pinoHttp({
    logger,
    genReqId: (req, res) => {
      const id = requestIdOf(req);
      res.setHeader('x-request-id', id);
      return id;
    },
    // Only what an operator needs; headers are redacted by the logger anyway (REDACT_PATHS).
    serializers: {
      req: (req: { id: string; method: string; url: string; remoteAddress?: string }) => ({ id: req.id, method: req.method, url: req.url.split('?')[0], remoteAddress: req.remoteAddress }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
    },
    customProps: (req) => ({ keyId: (req as IncomingMessage & { principal?: { keyId: string } }).principal?.keyId }),
    customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info'),
    // Probes and scrapes every few seconds would drown the requests that matter.
    autoLogging: { ignore: (req) => (req.url ?? '').startsWith('/health/') || req.url === '/metrics' },
  });
  return (req, res, next) => http(req, res, next);
}

/** Request durations by the matched route's pattern (never the raw path: ids would explode the series). */
export function httpMetrics(metrics: Metrics): Middleware {
  return (req, res, next) => {
    const end = metrics.httpDuration.startTimer();
    res.once('finish', () => {
      const r = req as IncomingMessage & { route?: { path?: string }; baseUrl?: string };
      const route = r.route?.path ? `${r.baseUrl ?? ''}${r.route.path}` : '(unrouted)';
      end({ method: req.method ?? 'GET', route, status: String(res.statusCode) });
    });
    next();
  };
}

/** Nest's own log calls (bootstrap, exception filter) as pino lines. */
export class PinoNestLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}
  private line(level: 'info' | 'warn' | 'error' | 'debug' | 'trace' | 'fatal', message: unknown, rest: unknown[]): void {
    const context = typeof rest[rest.length - 1] === 'string' ? (rest[rest.length - 1] as string) : undefined;
    const trace = level === 'error' && typeof rest[0] === 'string' && rest.length > 1 ? rest[0] : undefined;
    // An Error has no enumerable fields: JSON would print "{}". pino's err serializer keeps its stack.
    if (message instanceof Error) return this.logger[level]({ context, err: message }, message.message);
    this.logger[level]({ context, ...(trace ? { stack: trace } : {}) }, typeof message === 'string' ? message : JSON.stringify(message));
  }
  log(message: unknown, ...rest: unknown[]): void {
    this.line('info', message, rest);
  }
  error(message: unknown, ...rest: unknown[]): void {
    this.line('error', message, rest);
  }
  warn(message: unknown, ...rest: unknown[]): void {
    this.line('warn', message, rest);
  }
  debug(message: unknown, ...rest: unknown[]): void {
    this.line('debug', message, rest);
  }
  verbose(message: unknown, ...rest: unknown[]): void {
    this.line('trace', message, rest);
  }
  fatal(message: unknown, ...rest: unknown[]): void {
    this.line('fatal', message, rest);
  }
}
