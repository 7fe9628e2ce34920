import type { IncomingMessage } from 'node:http';
import type { ApiConfig } from './api.config';
import { type Middleware, hasBody, replyError } from './http-middleware';
import { TransientUpstreamError } from '@rescue/domain';

const SIGNAL = Symbol('rescue.requestSignal');
type WithSignal = IncomingMessage & { [SIGNAL]?: AbortSignal };

/** Aborted when the request timed out or the client went away: work for it should stop. */
export function requestSignal(req: IncomingMessage): AbortSignal | undefined {
  return (req as WithSignal)[SIGNAL];
}

/**
 * A request not answered within API_REQUEST_TIMEOUT_MS gets 503, and its signal aborts the work
 * (a pool task still queued is dropped; one running has its thread replaced). A client that hangs
 * up aborts it too, so nobody computes an answer no one will read.
 */
export function requestTimeout(config: Pick<ApiConfig, 'API_REQUEST_TIMEOUT_MS'>): Middleware {
  return (req, res, next) => {
    const controller = new AbortController();
    (req as WithSignal)[SIGNAL] = controller.signal;
    const timer = setTimeout(() => {
      replyError(res, 503, 'timeout', `the request was not answered within ${config.API_REQUEST_TIMEOUT_MS} ms (API_REQUEST_TIMEOUT_MS); retry later`, { headers: { 'retry-after': '1' } });
      controller.abort(new TransientUpstreamError('request timed out'));
    }, config.API_REQUEST_TIMEOUT_MS);
    timer.unref();
    res.on('close', () => {
      clearTimeout(timer);
      if (!res.writableFinished) controller.abort(new TransientUpstreamError('the client went away'));
    });
    next();
  };
}

/** Whether the API parses this body itself (JSON, or no type): then the size cap and whole-body deadline apply. */
export function isParsedBody(req: IncomingMessage): boolean {
  const type = req.headers['content-type'];
  return type === undefined || /^application\/(?:[\w.+-]*\+)?json\b/i.test(type);
}

/**
 * Stalled bodies: a JSON body must arrive whole within API_BODY_DEADLINE_MS of the headers; a
 * streamed upload (NDJSON, read by its handler as it arrives) may take as long as it needs but
 * must not stop moving for API_BODY_DEADLINE_MS. Either way: 408 and the connection closed. Node's
 * own requestTimeout (300 s, checked every 30 s) is far too slow to protect a service from clients
 * that trickle bytes or stop sending. Progress is read off the socket's byte count, so this never
 * touches the stream its handler reads.
 */
export function bodyDeadline(config: Pick<ApiConfig, 'API_BODY_DEADLINE_MS'>): Middleware {
  return (req, res, next) => {
    if (!hasBody(req) || req.complete) return next();
    const whole = isParsedBody(req);
    let lastBytes = req.socket.bytesRead;
    const expire = (): void => {
      replyError(
        res,
        408,
        'body-timeout',
        whole ? `the request body did not arrive within ${config.API_BODY_DEADLINE_MS} ms (API_BODY_DEADLINE_MS)` : `the upload stopped for ${config.API_BODY_DEADLINE_MS} ms (API_BODY_DEADLINE_MS)`,
        { close: true },
      );
      // Whatever reads the body (the JSON parser, an upload handler) sees the connection end and stops.
      if (res.writableFinished) req.socket.destroy();
      else res.once('finish', () => req.socket.destroy());
    };
    const timer = setInterval(() => {
      if (req.complete) return clearInterval(timer);
      const bytes = req.socket.bytesRead;
      if (!whole && bytes > lastBytes) {
        lastBytes = bytes;
        return;
      }
      clearInterval(timer);
      expire();
    }, config.API_BODY_DEADLINE_MS);
    timer.unref();
    const done = (): void => clearInterval(timer);
    req.once('end', done);
    req.once('close', done);
    next();
  };
}

/**
 * Refuses a JSON body larger than API_BODY_LIMIT_BYTES from its Content-Length, before reading any
 * of it (the JSON parser enforces the same limit on chunked bodies as they stream). Streamed
 * uploads are capped by the handlers that read them.
 */
export function bodySizeCap(config: Pick<ApiConfig, 'API_BODY_LIMIT_BYTES'>): Middleware {
  return (req, res, next) => {
    if (!isParsedBody(req)) return next();
    const length = Number(req.headers['content-length'] ?? 0);
    if (length > config.API_BODY_LIMIT_BYTES)
      return replyError(res, 413, 'payload-too-large', `the body is ${length} bytes; the limit is ${config.API_BODY_LIMIT_BYTES} (API_BODY_LIMIT_BYTES)`, { close: true });
    next();
  };
}
