import { type CanActivate, type ExecutionContext, ForbiddenException, Inject, Injectable, SetMetadata, UnauthorizedException } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { type Principal, type Scope, authenticate } from './api-keys';
import type { ApiConfig } from './api.config';
import { API_CONFIG } from './api.tokens';

const SCOPES_KEY = 'rescue:scopes';

/** The scope(s) a route needs (any one of them). Routes under the guard without it need `admin`. */
export const RequireScopes = (...scopes: Scope[]) => SetMetadata(SCOPES_KEY, scopes);

export interface AuthenticatedRequest {
  headers: Record<string, string | string[] | undefined>;
  /** Set by the auth middleware (auth.middleware.ts) before the body is read. */
  principal?: Principal;
}

export const UNAUTHORIZED_MESSAGE = 'missing or unknown API key: send "Authorization: Bearer <key>" with a key from API_KEYS';

/**
 * Scopes per route. The key itself is checked earlier, by the auth middleware, before the body is
 * read; this guard authenticates again only when that middleware is not installed (a test module
 * without `configureApiApp`), so a route is never open by accident. Keys are compared in constant
 * time over digests and never echoed, logged or put in an error.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  constructor(
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    private readonly reflector: Reflector,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    if (this.config.API_KEYS.length === 0) return true;
    const req = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const principal = req.principal ?? authenticate(req.headers.authorization, this.config.API_KEYS);
    if (!principal) throw new UnauthorizedException(UNAUTHORIZED_MESSAGE);
    const needed = this.reflector.getAllAndOverride<Scope[] | undefined>(SCOPES_KEY, [context.getHandler(), context.getClass()]) ?? ['admin'];
    if (needed.some((s) => principal.scopes.has(s))) return true;
    throw new ForbiddenException(`this key (id ${principal.keyId}) lacks the scope this route needs: ${needed.join(' or ')}`);
  }
}
