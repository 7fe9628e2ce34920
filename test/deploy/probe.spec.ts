/** tools/probe.ts, the container health probe: the parts that need no Redis and no server. */
import { appFromCmdline, parseClientList, queuesWithoutWorker, workerClientName } from '../../tools/probe';

describe('the container probe', () => {
  it('finds the app PID 1 runs, from /proc/1/cmdline (NUL-separated) or a plain command line', () => {
    expect(appFromCmdline('node\0dist/apps/cluster-summarize/src/main.js\0')).toBe('cluster-summarize');
    expect(appFromCmdline('/usr/bin/tini -- node /app/dist/apps/api/src/main.js')).toBe('api');
    expect(appFromCmdline('node dist/tools/probe.js ready')).toBeUndefined();
  });

  it('reads CLIENT LIST lines, IPv4 and IPv6 addresses and names ending in base64 padding', () => {
    const text = [
      'id=3 addr=10.1.2.3:51234 laddr=10.1.9.9:6379 fd=8 name=rescue:Y2x1c3Rlci1zdW1tYXJpemU= age=5 db=0',
      'id=4 addr=[fd00::7]:40000 fd=9 name= age=1',
      'id=5 addr=::ffff:10.1.2.4:40001 fd=10 name=rescue:c2xpY2U= age=1',
    ].join('\n');
    expect(parseClientList(text)).toEqual([
      { name: 'rescue:Y2x1c3Rlci1zdW1tYXJpemU=', ip: '10.1.2.3' },
      { name: '', ip: 'fd00::7' },
      { name: 'rescue:c2xpY2U=', ip: '10.1.2.4' },
    ]);
  });

  it("names a worker's connection the way BullMQ does: <prefix>:<base64(queue)>", () => {
    expect(workerClientName('rescue', 'cluster-summarize')).toBe('rescue:Y2x1c3Rlci1zdW1tYXJpemU=');
  });

  it("counts a queue as served only by this container's own worker connection", () => {
    const clients = [
      { name: workerClientName('rescue', 'slice'), ip: '10.0.0.5' },
      { name: `${workerClientName('rescue', 'index')}:w:rescue-indexer-abc`, ip: '192.0.2.1' },
      { name: workerClientName('other', 'generate'), ip: '10.0.0.5' },
    ];
    const check = (queues: string[], localIps: string[], host = 'h') => queuesWithoutWorker(clients, { prefix: 'rescue', queues, localIps, host });
    expect(check(['slice'], ['127.0.0.1', '10.0.0.5'])).toEqual([]);
    // Another pod's worker (another address) does not make this one healthy.
    expect(check(['slice'], ['10.0.0.6'])).toEqual(['slice']);
    // A worker named after this host counts wherever its address appears to come from (NAT, proxies).
    expect(check(['index'], ['10.0.0.6'], 'rescue-indexer-abc')).toEqual([]);
    // Another deployment's prefix is another deployment.
    expect(check(['generate'], ['10.0.0.5'])).toEqual(['generate']);
  });
});
