import { createHmac, timingSafeEqual } from 'node:crypto';

/** The headers a webhook carries: which event, which delivery, when it was signed, and the signature. */
export const WEBHOOK_HEADERS = {
  event: 'x-rescue-event',
  delivery: 'x-rescue-delivery',
  timestamp: 'x-rescue-timestamp',
  signature: 'x-rescue-signature',
} as const;

/**
 * `sha256=<hex>` of HMAC-SHA256 over `<timestamp>.<body>`: the timestamp is signed with the body, so
 * a receiver that refuses old timestamps cannot be fed a recorded delivery again.
 */
export function signWebhook(secret: string, timestamp: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/**
 * What a receiver runs: the signature matches (compared in constant time) and the timestamp is
 * within `toleranceS` of now. Exported for receivers written in TypeScript and for our tests.
 */
export function verifyWebhook(secret: string, headers: { timestamp?: string; signature?: string }, body: string, toleranceS = 300, nowS = Math.floor(Date.now() / 1000)): boolean {
  const timestamp = Number(headers.timestamp);
  if (!Number.isInteger(timestamp) || Math.abs(nowS - timestamp) > toleranceS || !headers.signature) return false;
  const expected = Buffer.from(signWebhook(secret, timestamp, body));
  const given = Buffer.from(headers.signature);
  return expected.length === given.length && timingSafeEqual(expected, given);
}
