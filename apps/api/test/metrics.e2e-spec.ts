import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { QueueName } from '@rescue/contracts';
import { deletePrefix, prebuiltKb, testRedisUrl, uniquePrefix } from '@rescue/testing';
import { type RunningApi, postJson, startApi } from './api-harness';

/** The value of one series in Prometheus text, or undefined. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const body = line.slice(name.length + 1, line.lastIndexOf('}'));
    const have = Object.fromEntries([...body.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

describe('GET /metrics', () => {
  let dir: string;
  let prefix: string;
  let api: RunningApi;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rescue-api-metrics-'));
    await prebuiltKb(dir);
    prefix = uniquePrefix('api-metrics');
    api = await startApi({ QUEUE_PREFIX: prefix, RESCUE_KB_DIR: join(dir, 'kb'), METRICS_AUTH: 'none' });
    await api.redisReady();
  }, 60_000);
  afterAll(async () => {
    await api.close();
    await deletePrefix(prefix);
    rmSync(dir, { recursive: true, force: true });
  });

  it('counts requests by route pattern and status, retrieval time per level, and the KB version served', async () => {
    const task = { language: 'python', prompt: 'def find_user(db, name):\n    # look the user up by name with an SQL query\n' };
    const versions: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await postJson(api.url, '/v1/retrieve', task);
      expect(res.status).toBe(200);
      versions.push(((await res.json()) as { kbVersion: string }).kbVersion);
    }
    expect((await postJson(api.url, '/v1/retrieve', { language: 'python' })).status).toBe(400);
    const text = await (await fetch(`${api.url}/metrics`)).text();
    expect(sample(text, 'rescue_http_request_duration_seconds_count', { method: 'POST', route: '/v1/retrieve', status: '200' })).toBe(3);
    expect(sample(text, 'rescue_http_request_duration_seconds_count', { method: 'POST', route: '/v1/retrieve', status: '400' })).toBe(1);
    expect(sample(text, 'rescue_retrieval_duration_seconds_count', { level: 'total' })).toBe(3);
    expect(sample(text, 'rescue_retrieval_duration_seconds_count', { level: 'cwe' })).toBe(3);
    expect(sample(text, 'rescue_retrieval_duration_seconds_count', { level: 'code' })).toBe(3);
    expect(sample(text, 'rescue_kb_info', { version: versions[0] })).toBe(1);
    expect(sample(text, 'process_resident_memory_bytes', { app: 'api' })).toBeGreaterThan(0);
  });

  it('reads queue counts per queue and state from Redis at scrape time', async () => {
    const connection = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
    const queue = new Queue(QueueName.Generate, { connection, prefix });
    try {
      await queue.add('probe-a', {});
      await queue.add('probe-b', {}, { delay: 60_000 });
      const text = await (await fetch(`${api.url}/metrics`)).text();
      expect(sample(text, 'rescue_queue_jobs', { queue: QueueName.Generate, state: 'waiting' })).toBe(1);
      expect(sample(text, 'rescue_queue_jobs', { queue: QueueName.Generate, state: 'delayed' })).toBe(1);
      expect(sample(text, 'rescue_queue_jobs', { queue: QueueName.Slice, state: 'waiting' })).toBe(0);
    } finally {
      await queue.close();
      connection.disconnect();
    }
  });
});
