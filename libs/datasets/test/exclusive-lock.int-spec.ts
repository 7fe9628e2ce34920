import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { acquireExclusiveLock, withExclusiveLock } from '@rescue/datasets';
import { ConflictError } from '@rescue/domain';
import { TempDirs } from './helpers';

const dirs = new TempDirs();
afterEach(() => dirs.cleanup());

/** A separate process that takes the lock as Rescue does (proper-lockfile, owner file beside it), then idles. */
function holder(lockPath: string, host = 'h'): Promise<ChildProcess> {
  const script = `
    const { lock } = require('proper-lockfile');
    const fs = require('node:fs');
    lock(${JSON.stringify(lockPath)}, { lockfilePath: ${JSON.stringify(lockPath)}, realpath: false, stale: 1000, update: 300 }).then(() => {
      fs.writeFileSync(${JSON.stringify(`${lockPath}-owner.json`)}, JSON.stringify({ pid: process.pid, host: ${JSON.stringify(host)}, since: new Date().toISOString(), purpose: 'build' }));
      process.stdout.write('locked\\n');
      setInterval(() => undefined, 1000);
    });`;
  const child = spawn(process.execPath, ['-e', script], { cwd: join(__dirname, '../../..'), stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.stdout?.once('data', () => resolve(child));
    child.once('exit', (code) => reject(new Error(`lock holder exited with ${code}`)));
  });
}

describe('acquireExclusiveLock (proper-lockfile, with the holder named)', () => {
  it("refuses a second holder at once, naming the first one's pid and start, and frees the lock on release", async () => {
    const lockPath = join(dirs.make('lock'), 'out', '.lock');
    await withExclusiveLock(lockPath, { purpose: 'ingest --out' }, async (held) => {
      held.assertHeld();
      const err = await acquireExclusiveLock(lockPath, { purpose: 'ingest --out' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConflictError);
      expect((err as Error).message).toMatch(
        new RegExp(`^another ingest --out holds ${lockPath.replace(/[.\\/]/g, '\\$&')} since \\d{4}-[\\dT:.-]+Z, pid ${process.pid} on \\S+: wait for it to finish and try again`),
      );
    });
    expect(existsSync(lockPath)).toBe(false);
    expect(existsSync(`${lockPath}-owner.json`)).toBe(false);
    await (await acquireExclusiveLock(lockPath, { purpose: 'ingest --out' })).release();
  });

  it('waits for another process, telling once who it waits for, and takes over the lock of a SIGKILLed one once stale', async () => {
    const lockPath = join(dirs.make('lock-kill'), '.lock');
    const child = await holder(lockPath);
    const told: string[] = [];
    const start = Date.now();
    const waiting = acquireExclusiveLock(lockPath, { purpose: 'build', waitMs: 20_000, staleMs: 1000, onWait: (m) => told.push(m) });
    // Still refreshed by a live holder: not taken over however long we wait.
    await new Promise((r) => setTimeout(r, 1500));
    expect(told).toEqual([expect.stringMatching(new RegExp(`^another build holds .*\\.lock since .*, pid ${child.pid} on h; this build waits for it to finish$`))]);
    child.kill('SIGKILL');
    const held = await waiting;
    // SIGKILL left the lock folder behind; it was taken over after the stale time, not sooner.
    expect(Date.now() - start).toBeGreaterThanOrEqual(1500);
    expect(Date.now() - start).toBeLessThan(10_000);
    expect(told).toHaveLength(1);
    await held.release();
  }, 30_000);

  it('takes over at once the lock of a holder on this host that is gone (a re-run right after a SIGKILLed run)', async () => {
    const lockPath = join(dirs.make('lock-dead'), '.lock');
    const child = await holder(lockPath, hostname());
    // Alive: refused at once, naming it.
    await expect(acquireExclusiveLock(lockPath, { purpose: 'generate --out' })).rejects.toThrow(`pid ${child.pid}`);
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    // Gone: no wait for the 30 s staleness.
    const start = Date.now();
    const held = await acquireExclusiveLock(lockPath, { purpose: 'generate --out' });
    expect(Date.now() - start).toBeLessThan(5_000);
    held.assertHeld();
    await held.release();
  }, 30_000);
});
