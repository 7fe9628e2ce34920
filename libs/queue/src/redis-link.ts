import type { EventEmitter } from 'node:events';
import { Redis, type RedisOptions } from 'ioredis';
import { connectionOptions } from './redis-connection';

/** Error codes and messages that mean "the link to Redis is down", not a fault of one command. */
const LINK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);
// "Reached the max retries per request limit": ioredis's MaxRetriesPerRequestError, what a
// producer's command (maxRetriesPerRequest 1, see redis-connection.ts) fails with when it was sent
// while the client reconnects; it failed a distributed generate once in the AOF restart fault spec.
const LINK_MESSAGES = /Connection is closed|connect ETIMEDOUT|Stream isn't writeable|Socket closed unexpectedly|LOADING|Reached the max retries per request limit/;

export function isRedisLinkError(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | undefined;
  return (typeof e?.code === 'string' && LINK_CODES.has(e.code)) || (typeof e?.message === 'string' && LINK_MESSAGES.test(e.message));
}

/**
 * One log line when Redis is lost and one when it is back, for a whole process. Every BullMQ
 * object (workers, queues, queue events) and every ioredis client reports each failed reconnect
 * as an `error` event, and an emitter without a listener prints the raw stack: during a 10 s
 * outage that is hundreds of identical stacks. Link errors from any of them go here and are told
 * once; "back" comes from a probe connection of our own (its `ready` event), because BullMQ's
 * objects do not say when they reconnect. Other errors are passed on, one line each.
 */
export class RedisLink {
  private downSince?: number;
  private probe?: Redis;

  constructor(
    /** Where the process's workers connect (their connection options: no URL, so no password in any line). */
    private readonly connection: RedisOptions,
    private readonly log: (line: string) => void,
    private readonly now: () => number = Date.now,
  ) {}

  /** Listens to `error` on an emitter (a BullMQ Worker, Queue, QueueEvents, an ioredis client). */
  watch(emitter: Pick<EventEmitter, 'on'>, what: string): void {
    emitter.on('error', (err: unknown) => {
      if (isRedisLinkError(err)) this.lost(err);
      else this.log(`${what}: ${(err as Error)?.message ?? String(err)}`);
    });
  }

  /** Starts the probe connection that notices when Redis answers again. */
  start(): this {
    const probe = new Redis({ ...this.connection, lazyConnect: true, maxRetriesPerRequest: null, retryStrategy: (n) => Math.min(n * 200, 2000) });
    probe.on('error', (err: unknown) => this.lost(err));
    probe.on('ready', () => this.back());
    probe.connect().catch((err: unknown) => this.lost(err));
    this.probe = probe;
    return this;
  }

  stop(): void {
    this.probe?.disconnect();
    this.probe = undefined;
  }

  get isDown(): boolean {
    return this.downSince !== undefined;
  }

  lost(err: unknown): void {
    if (this.downSince !== undefined) return;
    this.downSince = this.now();
    const e = err as { code?: unknown; message?: unknown };
    const why = typeof e?.code === 'string' ? e.code : typeof e?.message === 'string' ? e.message : String(err);
    this.log(`Redis lost at ${this.where()} (${why}): waiting and reconnecting; jobs resume when it is back`);
  }

  back(): void {
    if (this.downSince === undefined) return;
    const seconds = Math.round((this.now() - this.downSince) / 100) / 10;
    this.downSince = undefined;
    this.log(`Redis back at ${this.where()} after ${seconds} s`);
  }

  private where(): string {
    return `${this.connection.host ?? '127.0.0.1'}:${this.connection.port ?? 6379}`;
  }
}

/**
 * The link of a producer process (the CLI's `--distributed` runs): its probe on the Redis at
 * `url`, its lines to `log`. Watch the run's BullMQ objects with it, and stop it when done.
 */
export function producerLink(url: string, log: (line: string) => void): RedisLink {
  return new RedisLink(connectionOptions('worker', url), log).start();
}

/**
 * Runs a Redis read again while the link is down, up to `timeoutMs`, backing off to 2 s. A
 * producer's connection queues no commands offline (see redis-connection.ts), so after Redis
 * restarts, a read that lands before its reconnect fails with a link error although the job it
 * asks about has settled; the wait that told us so rode another connection. Other errors, and a
 * link still down at the deadline, are thrown. (Ten lines, so no retry library for it.)
 */
export async function whileRedisLinkDown<T>(read: () => Promise<T>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + (Number.isFinite(timeoutMs) ? timeoutMs : 0);
  for (let attempt = 0; ; attempt++) {
    try {
      return await read();
    } catch (err) {
      if (!isRedisLinkError(err) || Date.now() >= deadline) throw err;
      await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** attempt, 2000, Math.max(0, deadline - Date.now()))));
    }
  }
}
