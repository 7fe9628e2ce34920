import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { WEBHOOK_HEADERS, signWebhook } from './webhook-signature';
import { guardedLookup, literalHostIsInternal } from './webhook-target';
import { InvalidInputError, TransientUpstreamError } from '@rescue/domain';

export interface WebhookSettings {
  secret: string;
  allowInternal: boolean;
  attempts: number;
  timeoutMs: number;
}

interface Delivery {
  id: string;
  url: string;
  event: string;
  body: string;
  attempts: number;
  state: 'pending' | 'delivered' | 'failed';
  lastError?: string;
}

/** The backoff before attempt n+1: 1 s, 2 s, 4 s … capped at 10 minutes, with up to 20% jitter so a receiver's outage does not end in a thundering herd. */
const backoffMs = (attempts: number): number => Math.min(600_000, 1000 * 2 ** (attempts - 1)) * (1 + Math.random() * 0.2);
const KEEP_S = 7 * 24 * 3600;

/**
 * Webhook deliveries kept in Redis, so a restart of the API (or another API process) takes them
 * over: a sorted set of due deliveries by time, one record per delivery, and a short lock per
 * attempt so two API processes do not send the same attempt. At-least-once: a receiver may see a
 * delivery twice (same X-Rescue-Delivery id) and should treat it as idempotent.
 *
 * Written on node:http rather than a queue library's worker: the API produces jobs and consumes
 * no queue (docs/architecture.md), and the SSRF guard needs the connection's own `lookup` hook.
 */
export class WebhookDeliveries {
  private readonly logger = new Logger('webhooks');

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly settings: WebhookSettings,
  ) {}

  private key(...parts: string[]): string {
    return [this.prefix, 'jobapi', ...parts].join(':');
  }

  /** Schedules a delivery now; `dedupeId` makes scheduling the same event twice a no-op. */
  async schedule(url: string, event: string, payload: unknown, dedupeId: string): Promise<string> {
    const id = `wh-${dedupeId}`;
    const delivery: Delivery = { id, url, event, body: JSON.stringify({ event, deliveryId: id, ...(payload as object) }), attempts: 0, state: 'pending' };
    const created = await this.redis.set(this.key('webhook', id), JSON.stringify(delivery), 'EX', KEEP_S, 'NX');
    if (created !== null) await this.redis.zadd(this.key('webhooks', 'due'), Date.now(), id);
    return id;
  }

  /** Attempts every delivery that is due, at most `limit` per call. */
  async deliverDue(limit = 20): Promise<void> {
    const due = await this.redis.zrangebyscore(this.key('webhooks', 'due'), '-inf', Date.now(), 'LIMIT', 0, limit);
    for (const id of due) {
      const lock = this.key('webhook-lock', id);
      if ((await this.redis.set(lock, '1', 'PX', this.settings.timeoutMs + 5000, 'NX')) === null) continue;
      try {
        await this.attempt(id);
      } finally {
        await this.redis.del(lock);
      }
    }
  }

  private async attempt(id: string): Promise<void> {
    const text = await this.redis.get(this.key('webhook', id));
    if (text === null) {
      await this.redis.zrem(this.key('webhooks', 'due'), id);
      return;
    }
    const d = JSON.parse(text) as Delivery;
    d.attempts += 1;
    const error = await this.send(d).then(
      () => undefined,
      (err: Error) => err.message,
    );
    if (error === undefined) d.state = 'delivered';
    else {
      d.lastError = error.slice(0, 300);
      if (d.attempts >= this.settings.attempts || error.startsWith('refused:')) d.state = 'failed';
    }
    const tx = this.redis.multi().set(this.key('webhook', id), JSON.stringify(d), 'EX', KEEP_S);
    if (d.state === 'pending') tx.zadd(this.key('webhooks', 'due'), Date.now() + backoffMs(d.attempts), id);
    else tx.zrem(this.key('webhooks', 'due'), id);
    await tx.exec();
    // The URL's host only: a path or query may carry the receiver's own token.
    if (d.state === 'failed') this.logger.warn(`webhook ${id} to ${new URL(d.url).host} given up after ${d.attempts} attempt(s): ${d.lastError}`);
  }

  /** One POST, signed now; resolves on a 2xx answer, rejects with why otherwise. */
  private send(d: Delivery): Promise<void> {
    const url = new URL(d.url);
    if (!this.settings.allowInternal && literalHostIsInternal(url)) return Promise.reject(new InvalidInputError(`refused: ${url.hostname} is an internal address`));
    const timestamp = Math.floor(Date.now() / 1000);
    const headers = {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(d.body),
      'user-agent': 'rescue-webhooks/1',
      [WEBHOOK_HEADERS.event]: d.event,
      [WEBHOOK_HEADERS.delivery]: d.id,
      [WEBHOOK_HEADERS.timestamp]: String(timestamp),
      [WEBHOOK_HEADERS.signature]: signWebhook(this.settings.secret, timestamp, d.body),
    };
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = request(url, { method: 'POST', headers, lookup: guardedLookup(this.settings.allowInternal) as never, timeout: this.settings.timeoutMs }, (res) => {
        // The answer's body is not needed; reading it frees the socket.
        res.resume();
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) resolve();
        else reject(new TransientUpstreamError(`the receiver answered ${status}`));
      });
      req.on('timeout', () => req.destroy(new TransientUpstreamError(`no answer within ${this.settings.timeoutMs} ms`)));
      req.on('error', (err: NodeJS.ErrnoException) =>
        reject(err.code === 'EINTERNALADDRESS' ? new InvalidInputError(`refused: ${err.message}`) : new TransientUpstreamError(err.message, { cause: err })),
      );
      req.end(d.body);
    });
  }
}
