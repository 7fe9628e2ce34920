import { installBoundedShutdown } from '../src/shutdown';

describe('installBoundedShutdown', () => {
  const logs: string[] = [];
  const log = (msg: string) => logs.push(msg);
  beforeEach(() => (logs.length = 0));

  it('exits 0 as soon as close resolves, and flips readiness first', async () => {
    const order: string[] = [];
    const exits: number[] = [];
    const { trigger } = installBoundedShutdown({ graceMs: 5000, log, signals: [], onSignal: () => order.push('signal'), close: async () => void order.push('close'), exit: (c) => exits.push(c) });
    await trigger('SIGTERM');
    expect(order).toEqual(['signal', 'close']);
    expect(exits).toEqual([0]);
  });

  it('exits 1 when close outlives the grace (e.g. Redis down), without waiting for it', async () => {
    const exits: number[] = [];
    const t0 = Date.now();
    const { trigger } = installBoundedShutdown({ graceMs: 150, log, signals: [], close: () => new Promise(() => undefined), exit: (c) => exits.push(c) });
    await trigger('SIGTERM');
    expect(exits).toEqual([1]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(logs.join(' ')).toContain('grace period over');
  });

  it('exits 1 when close fails; a second signal does not start a second close', async () => {
    const exits: number[] = [];
    let closes = 0;
    const { trigger } = installBoundedShutdown({
      graceMs: 5000,
      log,
      signals: [],
      close: async () => {
        closes++;
        throw new Error('boom');
      },
      exit: (c) => exits.push(c),
    });
    await Promise.all([trigger('SIGTERM'), trigger('SIGINT')]);
    expect(closes).toBe(1);
    expect(exits).toEqual([1]);
  });

  it('without close, only bounds: exits 1 at the grace', async () => {
    const exits: number[] = [];
    const { trigger } = installBoundedShutdown({ graceMs: 50, log, signals: [], exit: (c) => exits.push(c) });
    await trigger('SIGTERM');
    expect(exits).toEqual([1]);
  });
});
