import { EventEmitter } from 'node:events';
import { RedisLink, isRedisLinkError, whileRedisLinkDown } from '../src/redis-link';
// Not exported from ioredis's main module; the real class, so the test holds its real message.
import { MaxRetriesPerRequestError } from 'ioredis/built/errors';

const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6391'), { code: 'ECONNREFUSED' });

describe('RedisLink (no Redis)', () => {
  it('tells an outage seen by many connections once, and its end once, with its length', () => {
    const lines: string[] = [];
    let now = 1_000;
    const link = new RedisLink(
      { host: 'cache', port: 6391, password: 'pw-secret' },
      (l) => lines.push(l),
      () => now,
    );
    const emitters = [new EventEmitter(), new EventEmitter(), new EventEmitter()];
    emitters.forEach((e, i) => link.watch(e, `worker ${i}`));
    for (let retry = 0; retry < 50; retry += 1) for (const e of emitters) e.emit('error', refused);
    now += 4_200;
    link.back();
    link.back();
    for (const e of emitters) e.emit('error', refused);
    expect(lines).toEqual([
      'Redis lost at cache:6391 (ECONNREFUSED): waiting and reconnecting; jobs resume when it is back',
      'Redis back at cache:6391 after 4.2 s',
      'Redis lost at cache:6391 (ECONNREFUSED): waiting and reconnecting; jobs resume when it is back',
    ]);
    expect(lines.join('\n')).not.toContain('pw-secret');
  });

  it('passes other errors on, one line each, and knows a link error from them', () => {
    const lines: string[] = [];
    const link = new RedisLink({ host: 'cache', port: 6391 }, (l) => lines.push(l));
    const e = new EventEmitter();
    link.watch(e, 'worker generate');
    e.emit('error', new Error('Missing lock for job 7'));
    expect(lines).toEqual(['worker generate: Missing lock for job 7']);
    expect(link.isDown).toBe(false);
    expect(isRedisLinkError(new Error('Connection is closed.'))).toBe(true);
    // ioredis's own error for a command sent while it reconnects.
    expect(isRedisLinkError(new MaxRetriesPerRequestError(1))).toBe(true);
    expect(isRedisLinkError(new Error('Missing lock for job 7'))).toBe(false);
  });
});

describe('whileRedisLinkDown', () => {
  const linkDown = (): Error => new Error("Stream isn't writeable and enableOfflineQueue options is false");

  it('reads again while the link is down and returns the first answer', async () => {
    let calls = 0;
    const value = await whileRedisLinkDown(async () => {
      calls += 1;
      if (calls < 3) throw linkDown();
      return 'completed';
    }, 5000);
    expect(value).toBe('completed');
    expect(calls).toBe(3);
  });

  it('throws any other error at once', async () => {
    let calls = 0;
    const read = async (): Promise<string> => {
      calls += 1;
      throw new Error('WRONGTYPE Operation against a key holding the wrong kind of value');
    };
    await expect(whileRedisLinkDown(read, 5000)).rejects.toThrow('WRONGTYPE');
    expect(calls).toBe(1);
  });

  it('throws the link error once the deadline has passed', async () => {
    let calls = 0;
    const read = async (): Promise<string> => {
      calls += 1;
      throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    };
    await expect(whileRedisLinkDown(read, 250)).rejects.toThrow('ECONNREFUSED');
    expect(calls).toBeGreaterThan(1);
  });
});
