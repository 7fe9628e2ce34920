import { type CanActivate, type ExecutionContext, Inject, Injectable, UnauthorizedException } from '@nestjs/common';
import { createHash, timingSafeEqual } from 'node:crypto';
import { API_CONFIG } from './api.tokens';
import type { ApiConfig } from './api.config';

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/**
 * Bearer API keys from API_KEYS, compared in constant time (over digests, so lengths leak
 * nothing either). The key is never echoed, logged or put in an error.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  private readonly keys: Buffer[];

  constructor(@Inject(API_CONFIG) config: ApiConfig) {
    this.keys = config.API_KEYS.map(digest);
  }

  canActivate(context: ExecutionContext): boolean {
    if (this.keys.length === 0) return true;
    const header = context.switchToHttp().getRequest<{ headers: Record<string, string | string[] | undefined> }>().headers.authorization ?? '';
    const match = typeof header === 'string' ? /^Bearer\s+(\S+)$/i.exec(header) : null;
    const given = match ? digest(match[1]) : undefined;
    if (given && this.keys.some((k) => timingSafeEqual(k, given))) return true;
    throw new UnauthorizedException('missing or unknown API key: send "Authorization: Bearer <key>" with a key from API_KEYS');
  }
}
