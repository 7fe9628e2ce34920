/** tools/probe.ts, the image's HEALTHCHECK: the parts that need no server. */
import { appFromCmdline, probe } from '../../tools/probe';

describe('the container probe', () => {
  it('finds the app PID 1 runs, from /proc/1/cmdline (NUL-separated) or a plain command line', () => {
    expect(appFromCmdline('node\0dist/apps/cluster-summarize/src/main.js\0')).toBe('cluster-summarize');
    expect(appFromCmdline('/usr/bin/tini -- node /app/dist/apps/api/src/main.js')).toBe('api');
    expect(appFromCmdline('node dist/tools/probe.js ready')).toBeUndefined();
  });

  it('passes, saying why, where there is nothing to probe: the CLI, or a worker with HEALTH_PORT=0', async () => {
    expect(await probe('ready', 'cli', {})).toEqual({ ok: true, reason: 'cli in this container: nothing to probe' });
    expect(await probe('ready', 'slicer', { HEALTH_PORT: '0' })).toEqual({ ok: true, reason: 'slicer: HEALTH_PORT=0, no health listener to probe' });
  });

  it('refuses a bad HEALTH_PORT by name instead of probing somewhere else', async () => {
    await expect(probe('live', 'indexer', { HEALTH_PORT: 'ninety' })).rejects.toThrow(/HEALTH_PORT/);
  });
});
