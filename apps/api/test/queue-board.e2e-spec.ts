/**
 * bull-board at /admin/queues: behind the API key and the admin scope, over every pipeline queue
 * under the configured prefix, with the real BullMQ counts from Redis.
 */
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { QueueName } from '@rescue/contracts';
import { deletePrefix, testRedisUrl, uniquePrefix } from '@rescue/testing';
import { type RunningApi, startApi } from './api-harness';

const ADMIN_KEY = 'k-board-admin-0123456789';
const RETRIEVE_KEY = 'k-board-retrieve-0123456789';

interface BoardQueues {
  queues: { name: string; counts: Record<string, number> }[];
}

describe('bull-board at /admin/queues', () => {
  let prefix: string;
  let api: RunningApi;
  beforeAll(async () => {
    prefix = uniquePrefix('api-board');
    api = await startApi({ QUEUE_PREFIX: prefix, API_KEYS: `${ADMIN_KEY}@admin,${RETRIEVE_KEY}@retrieve`, API_RATE_LIMIT_PER_MINUTE: '0' });
    await api.redisReady();
  }, 60_000);
  afterAll(async () => {
    await api.close();
    await deletePrefix(prefix);
  });

  const get = (path: string, key?: string) => fetch(`${api.url}${path}`, { headers: key ? { authorization: `Bearer ${key}` } : {} });

  it('answers 401 without a key and 403 to a key without the admin scope, for the page and its API', async () => {
    for (const path of ['/admin/queues', '/admin/queues/api/queues']) {
      const anonymous = await get(path);
      expect({ path, status: anonymous.status }).toEqual({ path, status: 401 });
      expect(anonymous.headers.get('www-authenticate')).toBe('Bearer');
      const wrongScope = await get(path, RETRIEVE_KEY);
      expect({ path, status: wrongScope.status }).toEqual({ path, status: 403 });
      expect(await wrongScope.text()).toContain('admin scope');
    }
    // A key in the query string is not a key.
    expect((await get(`/admin/queues?authorization=Bearer%20${ADMIN_KEY}`)).status).toBe(401);
  });

  it('serves the page and lists every pipeline queue under the prefix, with its counts from Redis', async () => {
    const page = await get('/admin/queues', ADMIN_KEY);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(await page.text()).toContain('Rescue queues');

    // One waiting job on the generate queue, under this test's prefix.
    const connection = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
    const queue = new Queue(QueueName.Generate, { connection, prefix });
    try {
      await queue.add('board-probe', { n: 1 });
      const res = await get('/admin/queues/api/queues', ADMIN_KEY);
      expect(res.status).toBe(200);
      const body = (await res.json()) as BoardQueues;
      expect(body.queues.map((q) => q.name).sort()).toEqual(Object.values(QueueName).sort());
      const counts = Object.fromEntries(body.queues.map((q) => [q.name, q.counts.waiting ?? 0]));
      expect(counts).toEqual(Object.fromEntries(Object.values(QueueName).map((n) => [n, n === QueueName.Generate ? 1 : 0])));
    } finally {
      await queue.close();
      connection.disconnect();
    }
  });
});
