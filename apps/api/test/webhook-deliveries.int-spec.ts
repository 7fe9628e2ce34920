import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { deletePrefix, testRedisUrl, uniquePrefix } from '@rescue/testing';
import { WebhookDeliveries } from '../src/webhooks/webhook-deliveries';
import { verifyWebhook } from '../src/webhooks/webhook-signature';

const SECRET = 'whsec-0123456789abcdef0123456789abcdef';

/** Runs the due deliveries until `done` holds (backoff puts later attempts a second or more ahead). */
async function deliverUntil(deliveries: WebhookDeliveries, done: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error('deliveries did not settle');
    await deliveries.deliverDue();
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('webhook deliveries (real Redis)', () => {
  let redis: Redis;
  let prefix: string;
  let server: Server;
  let url: string;
  const received: { signature: string; timestamp: string; body: string }[] = [];
  let answer = 204;

  beforeAll(async () => {
    redis = new Redis(testRedisUrl());
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        received.push({ signature: String(req.headers['x-rescue-signature']), timestamp: String(req.headers['x-rescue-timestamp']), body });
        res.writeHead(answer).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  });
  beforeEach(() => {
    prefix = uniquePrefix('webhooks');
    received.length = 0;
  });
  afterEach(async () => deletePrefix(prefix));
  afterAll(async () => {
    redis.disconnect();
    await new Promise((r) => server.close(r));
  });

  const record = async (id: string): Promise<{ state: string; attempts: number; lastError?: string }> => JSON.parse((await redis.get(`${prefix}:jobapi:webhook:${id}`)) as string);

  it('delivers once per event id, signed, and retries a receiver that fails until it gives up', async () => {
    const deliveries = new WebhookDeliveries(redis, prefix, { secret: SECRET, allowInternal: true, attempts: 2, timeoutMs: 2000 });
    const id = await deliveries.schedule(url, 'generation.batch.completed', { batch: { id: 'g1' } }, 'g1-r1');
    expect(await deliveries.schedule(url, 'generation.batch.completed', { batch: { id: 'g1' } }, 'g1-r1')).toBe(id);
    await deliverUntil(deliveries, async () => (await record(id)).state !== 'pending');
    expect(received).toHaveLength(1);
    expect(verifyWebhook(SECRET, received[0], received[0].body)).toBe(true);
    expect(JSON.parse(received[0].body)).toEqual({ event: 'generation.batch.completed', deliveryId: id, batch: { id: 'g1' } });

    answer = 500;
    const failing = await deliveries.schedule(url, 'generation.batch.completed', { batch: { id: 'g2' } }, 'g2-r1');
    await deliverUntil(deliveries, async () => (await record(failing)).state !== 'pending');
    expect(await record(failing)).toMatchObject({ state: 'failed', attempts: 2, lastError: 'the receiver answered 500' });
    expect(await redis.zcard(`${prefix}:jobapi:webhooks:due`)).toBe(0);
    answer = 204;
  }, 30_000);

  it('never connects to an internal address unless allowed, and gives up at once', async () => {
    const deliveries = new WebhookDeliveries(redis, prefix, { secret: SECRET, allowInternal: false, attempts: 5, timeoutMs: 2000 });
    const literal = await deliveries.schedule(url, 'e', {}, 'a');
    const named = await deliveries.schedule(url.replace('127.0.0.1', 'localhost'), 'e', {}, 'b');
    await deliveries.deliverDue();
    expect(await record(literal)).toMatchObject({ state: 'failed', attempts: 1, lastError: expect.stringMatching(/^refused: 127\.0\.0\.1 is an internal address/) });
    expect(await record(named)).toMatchObject({ state: 'failed', attempts: 1, lastError: expect.stringMatching(/^refused: localhost resolves to an internal address/) });
    expect(received).toHaveLength(0);
  });
});
