import { createHash, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';

/** What a key may do: retrieve (POST /v1/retrieve), generate (generation batches), admin (KB builds, metrics, dashboards). */
export const SCOPES = ['retrieve', 'generate', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

/** A configured key: never the key itself, only its SHA-256, and a short id for logs and rate limits. */
export interface ApiKeyEntry {
  /** The first 12 hex digits of the digest: names the key in logs and rate-limit buckets. */
  id: string;
  digest: Buffer;
  scopes: ReadonlySet<Scope>;
}

export interface Principal {
  keyId: string;
  scopes: ReadonlySet<Scope>;
}

const sha256 = (s: string): Buffer => createHash('sha256').update(s).digest();
/** Keys without scopes keep what they could do before scopes existed, minus nothing new: retrieve and generate, not admin. */
export const DEFAULT_SCOPES: readonly Scope[] = ['retrieve', 'generate'];

/**
 * API_KEYS: comma-separated entries, each `<key>[@<scope>+<scope>…]`, where `<key>` is the key itself
 * (16+ characters of letters, digits, `._~-`) or `sha256:<64 hex>`, its digest, so the plaintext
 * never has to sit in the environment (`printf %s "$KEY" | sha256sum`). Examples:
 * `k-ci-0123456789abcdef@retrieve`, `sha256:9f86…08@retrieve+generate+admin`.
 * Problems are reported by entry number, never by value.
 */
export const apiKeysSchema = z
  .string()
  .optional()
  .transform((raw, ctx): ApiKeyEntry[] => {
    const entries = (raw ?? '')
      .split(',')
      .map((e) => e.trim())
      .filter(Boolean);
    const out: ApiKeyEntry[] = [];
    entries.forEach((entry, i) => {
      const at = entry.lastIndexOf('@');
      const secret = at >= 0 ? entry.slice(0, at) : entry;
      const scopeText = at >= 0 ? entry.slice(at + 1) : undefined;
      const where = `entry ${i + 1} of ${entries.length}`;
      let digest: Buffer;
      const hashed = /^sha256:([0-9a-fA-F]{64})$/.exec(secret);
      if (hashed) digest = Buffer.from(hashed[1], 'hex');
      else if (/^sha256:/.test(secret)) return ctx.addIssue({ code: 'custom', message: `${where}: sha256: must be followed by 64 hex digits` });
      else if (secret.length < 16) return ctx.addIssue({ code: 'custom', message: `${where}: every key needs at least 16 characters` });
      else if (!/^[A-Za-z0-9._~-]+$/.test(secret)) return ctx.addIssue({ code: 'custom', message: `${where}: a key may hold letters, digits and . _ ~ - only` });
      else digest = sha256(secret);
      const scopes = scopeText === undefined ? [...DEFAULT_SCOPES] : scopeText.split('+').map((s) => s.trim());
      const unknown = scopes.filter((s) => !(SCOPES as readonly string[]).includes(s));
      if (unknown.length > 0 || scopes.length === 0) return ctx.addIssue({ code: 'custom', message: `${where}: unknown scope(s) ${JSON.stringify(unknown)}; use ${SCOPES.join(', ')} joined by +` });
      out.push({ id: digest.toString('hex').slice(0, 12), digest, scopes: new Set(scopes as Scope[]) });
    });
    return out;
  });

/** The Authorization header's bearer token, compared in constant time over digests (lengths leak nothing). */
export function authenticate(header: string | string[] | undefined, keys: readonly ApiKeyEntry[]): Principal | undefined {
  const match = typeof header === 'string' ? /^Bearer\s+(\S+)$/i.exec(header) : null;
  if (!match) return undefined;
  const given = sha256(match[1]);
  // Every entry is compared, so the time taken does not say which one matched.
  let found: ApiKeyEntry | undefined;
  for (const k of keys) if (timingSafeEqual(k.digest, given) && !found) found = k;
  return found ? { keyId: found.id, scopes: found.scopes } : undefined;
}
