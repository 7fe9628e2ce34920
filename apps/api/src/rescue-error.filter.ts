import { type ArgumentsHost, Catch, type ExceptionFilter, Logger } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { RateLimitedError, RescueError, classify } from '@rescue/domain';

/**
 * Our errors that reach a handler's edge, answered by `classify()`: 400 for bad input, 422 for
 * what we do not support, 404 for something absent, 429 (with Retry-After when the upstream gave
 * one) for a rate limit, 503 for transient or configuration trouble. Nest's own HttpExceptions
 * (the 400/401/503 the controllers and guard throw) and everything else (500) keep Nest's handling.
 */
@Catch(RescueError)
export class RescueErrorFilter implements ExceptionFilter<RescueError> {
  private readonly logger = new Logger('api');

  constructor(private readonly adapterHost: HttpAdapterHost) {}

  catch(err: RescueError, host: ArgumentsHost): void {
    const { kind, httpStatus, message } = classify(err);
    const { httpAdapter } = this.adapterHost;
    const response: unknown = host.switchToHttp().getResponse();
    // A client error is the client's to read; a server-side one is also the operator's.
    if (httpStatus >= 500) this.logger.warn(`${err.name}: ${message}`);
    if (err instanceof RateLimitedError && err.retryAfterMs !== undefined) httpAdapter.setHeader(response, 'Retry-After', String(Math.ceil(err.retryAfterMs / 1000)));
    // Nest's body shape (statusCode, message, error), with the kind as the error.
    httpAdapter.reply(response, { statusCode: httpStatus, message, error: kind }, httpStatus);
  }
}
