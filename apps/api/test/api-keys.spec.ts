import { createHash } from 'node:crypto';
import { apiKeysSchema, authenticate } from '../src/api-keys';

const parse = (raw?: string) => apiKeysSchema.safeParse(raw);

describe('API_KEYS (no server)', () => {
  it('reads plaintext and sha256 entries with scopes; unscoped keys get retrieve and generate, never admin', () => {
    const digest = createHash('sha256').update('k-admin-0123456789abcdef').digest('hex');
    const r = parse(`k-plain-0123456789ab, k-ret-0123456789abcdef@retrieve ,sha256:${digest}@admin+generate`);
    expect(r.success).toBe(true);
    const keys = r.success ? r.data : [];
    expect(keys.map((k) => [...k.scopes].sort())).toEqual([['generate', 'retrieve'], ['retrieve'], ['admin', 'generate']]);
    expect(authenticate('Bearer k-admin-0123456789abcdef', keys)?.scopes.has('admin')).toBe(true);
    expect(authenticate('bearer k-ret-0123456789abcdef', keys)?.keyId).toBe(createHash('sha256').update('k-ret-0123456789abcdef').digest('hex').slice(0, 12));
    expect(authenticate('Bearer k-unknown-0123456789', keys)).toBeUndefined();
    expect(authenticate('Basic abc', keys)).toBeUndefined();
    expect(authenticate(undefined, keys)).toBeUndefined();
    expect(authenticate(['Bearer k-plain-0123456789ab'], keys)).toBeUndefined();
  });

  it('names each bad entry by its number and the rule, never by its value', () => {
    const r = parse('short-secret-1,k-ok-0123456789abcdef@root,sha256:abc,k-has space-01234567,k-ok2-0123456789abcdef@');
    expect(r.success).toBe(false);
    const messages = r.success ? [] : r.error.issues.map((i) => i.message);
    expect(messages).toEqual([
      'entry 1 of 5: every key needs at least 16 characters',
      'entry 2 of 5: unknown scope(s) ["root"]; use retrieve, generate, admin joined by +',
      'entry 3 of 5: sha256: must be followed by 64 hex digits',
      'entry 4 of 5: a key may hold letters, digits and . _ ~ - only',
      'entry 5 of 5: unknown scope(s) [""]; use retrieve, generate, admin joined by +',
    ]);
    expect(messages.join(' ')).not.toMatch(/short-secret|k-ok|has space/);
  });

  it('unset or empty: no keys (authentication off)', () => {
    expect(parse(undefined)).toMatchObject({ success: true, data: [] });
    expect(parse(' , ')).toMatchObject({ success: true, data: [] });
  });
});
