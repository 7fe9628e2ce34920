import { request } from 'node:http';
import { checkWebhookUrl, guardedLookup, isInternalAddress, literalHostIsInternal } from '../src/webhooks/webhook-target';
import { signWebhook, verifyWebhook } from '../src/webhooks/webhook-signature';

const SECRET = 'whsec-0123456789abcdef0123456789abcdef';

describe('webhook signatures', () => {
  it('verify what was signed, and nothing else: another body, secret or an old timestamp fails', () => {
    const now = 1_800_000_000;
    const body = '{"event":"generation.batch.completed"}';
    const signature = signWebhook(SECRET, now, body);
    expect(signature).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(verifyWebhook(SECRET, { timestamp: String(now), signature }, body, 300, now + 10)).toBe(true);
    expect(verifyWebhook(SECRET, { timestamp: String(now), signature }, `${body} `, 300, now)).toBe(false);
    expect(verifyWebhook(`${SECRET}x`, { timestamp: String(now), signature }, body, 300, now)).toBe(false);
    // The timestamp is signed: moving it breaks the signature, keeping it makes a replay stale.
    expect(verifyWebhook(SECRET, { timestamp: String(now + 1), signature }, body, 300, now)).toBe(false);
    expect(verifyWebhook(SECRET, { timestamp: String(now), signature }, body, 300, now + 301)).toBe(false);
    expect(verifyWebhook(SECRET, { timestamp: 'soon', signature }, body)).toBe(false);
  });
});

describe('webhook targets (SSRF guard)', () => {
  it.each([
    ['127.0.0.1', true],
    ['10.1.2.3', true],
    ['172.20.0.5', true],
    ['192.168.1.1', true],
    ['169.254.169.254', true],
    ['100.64.0.1', true],
    ['0.0.0.0', true],
    ['::1', true],
    ['fd00::1', true],
    ['fe80::1', true],
    ['::ffff:10.0.0.1', true],
    ['::ffff:127.0.0.1', true],
    ['not-an-address', true],
    ['93.184.216.34', false],
    ['2606:4700:4700::1111', false],
    ['::ffff:93.184.216.34', false],
  ])('%s internal: %s', (address, internal) => {
    expect(isInternalAddress(address)).toBe(internal);
  });

  it('refuses internal address literals and names that resolve inside, unless allowed', async () => {
    for (const url of ['http://127.0.0.1:9/x', 'http://[::1]/x', 'http://169.254.169.254/latest/meta-data', 'http://localhost:8080/hook']) {
      await expect(checkWebhookUrl(url, false)).rejects.toThrow(/webhookUrl: .*internal address.*WEBHOOK_ALLOW_PRIVATE/);
      await expect(checkWebhookUrl(url, true)).resolves.toBeUndefined();
    }
    await expect(checkWebhookUrl('https://93.184.216.34/hook', false)).resolves.toBeUndefined();
    expect(literalHostIsInternal(new URL('http://[::ffff:7f00:1]/'))).toBe(true);
  });

  it('refuses at connect time a name that resolves to an internal address (no request is sent)', async () => {
    const err = await new Promise<NodeJS.ErrnoException>((resolve) => {
      const req = request('http://localhost:9/hook', { method: 'POST', lookup: guardedLookup(false) as never }, () => resolve(new Error('answered') as NodeJS.ErrnoException));
      req.on('error', resolve);
      req.end('{}');
    });
    expect(err.code).toBe('EINTERNALADDRESS');
    expect(err.message).toMatch(/localhost resolves to an internal address/);
  });
});
