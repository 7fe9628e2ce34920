import { Controller, ForbiddenException, Get, Header, Inject, Req, UnauthorizedException } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import { Metrics } from '@rescue/observability';
import { type AuthenticatedRequest, UNAUTHORIZED_MESSAGE } from './api-key.guard';
import { authenticate } from './api-keys';
import type { ApiConfig } from './api.config';
import { API_CONFIG } from './api.tokens';

/** Prometheus exposition. With keys configured it needs the admin scope, unless METRICS_AUTH=none. */
@Controller()
export class MetricsController {
  constructor(
    private readonly metrics: Metrics,
    @Inject(API_CONFIG) private readonly config: ApiConfig,
  ) {}

  @Get('metrics')
  @Header('cache-control', 'no-store')
  async scrape(@Req() req: IncomingMessage & AuthenticatedRequest & { res?: { setHeader(n: string, v: string): void } }): Promise<string> {
    if (this.config.METRICS_AUTH === 'admin' && this.config.API_KEYS.length > 0) {
      const principal = req.principal ?? authenticate(req.headers.authorization, this.config.API_KEYS);
      if (!principal) throw new UnauthorizedException(UNAUTHORIZED_MESSAGE);
      if (!principal.scopes.has('admin')) throw new ForbiddenException(`this key (id ${principal.keyId}) lacks the admin scope /metrics needs (or set METRICS_AUTH=none)`);
    }
    req.res?.setHeader('content-type', this.metrics.contentType());
    return this.metrics.text();
  }
}
