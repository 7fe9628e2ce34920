import { mkdir, readFile, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { ConflictError } from '@rescue/domain';

/**
 * proper-lockfile, loaded when a lock is first taken: with graceful-fs, which it loads (and which
 * patches fs as it does), it cost a tenth of a loaded cold `rescue retrieve`, a command that never locks.
 */
function lockfile(): typeof import('proper-lockfile') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('proper-lockfile') as typeof import('proper-lockfile');
}

/** Who holds a lock, written beside it by the holder (proper-lockfile's lock is a bare folder). */
interface LockOwner {
  pid: number;
  host: string;
  since: string;
  purpose: string;
}

export interface ExclusiveLockOptions {
  /** What the holder does, for the message another process prints ("build", "ingest --out"). */
  purpose: string;
  /** How long to wait for the holder to finish; 0 (the default) fails at once. */
  waitMs?: number;
  /** Told once, when the lock is busy and this process starts to wait. */
  onWait?: (message: string) => void;
  /**
   * A lock whose holder stopped refreshing it for this long is taken over (the holder was killed:
   * SIGKILL gives it no chance to remove it). Long enough that a busy event loop does not lose it.
   */
  staleMs?: number;
}

/** A held lock: `assertHeld` before an irreversible step, `release` when done. */
export interface HeldLock {
  readonly path: string;
  /** Throws when the lock was lost meanwhile (not refreshed within `staleMs`, or removed). */
  assertHeld(): void;
  release(): Promise<void>;
}

const POLL_MS = 250;

const ownerPath = (lockPath: string): string => `${lockPath}-owner.json`;

async function ownerOf(lockPath: string): Promise<LockOwner | undefined> {
  try {
    return JSON.parse(await readFile(ownerPath(lockPath), 'utf8')) as LockOwner;
  } catch (_unreadable) {
    // Absent (the holder has not written it yet, or an older holder) or half there: the message
    // then says the owner is unknown; the lock itself is what decides, not this file.
    return undefined;
  }
}

/** Whether a process with this pid runs on this host (EPERM: it runs, as another user). */
function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A lock whose holder ran on this host and is gone (SIGKILL, a crash) is removed at once rather
 * than after `staleMs`: a re-run right after a killed run is the common case. The owner file is
 * read again just before removing, so a lock another process took over meanwhile (its owner file
 * names it) is left alone. A reused pid only makes us wait for staleness, never steal a live lock.
 */
async function removeIfHolderDead(lockPath: string, owner: LockOwner | undefined): Promise<boolean> {
  if (!owner || owner.host !== hostname() || owner.pid === process.pid || pidAlive(owner.pid)) return false;
  const again = await ownerOf(lockPath);
  if (again?.pid !== owner.pid || again.since !== owner.since) return false;
  await rm(lockPath, { recursive: true, force: true });
  await rm(ownerPath(lockPath), { force: true });
  return true;
}

function busyMessage(lockPath: string, owner: LockOwner | undefined, purpose: string): string {
  const who = owner ? `another ${owner.purpose} holds ${lockPath} since ${owner.since}, pid ${owner.pid} on ${owner.host}` : `another process holds ${lockPath} (owner unknown)`;
  return `${who}; this ${purpose} waits for it to finish`;
}

/**
 * An exclusive, inter-process lock at `lockPath` (proper-lockfile: an atomic `mkdir`, refreshed
 * while held, taken over when stale), with the holder's pid and start time written beside it so
 * that a second writer can say who it waits for. Used for one build per KB folder and one writer
 * per `--out`.
 */
export async function acquireExclusiveLock(lockPath: string, options: ExclusiveLockOptions): Promise<HeldLock> {
  const staleMs = options.staleMs ?? 30_000;
  const deadline = Date.now() + (options.waitMs ?? 0);
  await mkdir(dirname(lockPath), { recursive: true });
  let compromised: Error | undefined;
  let told = false;
  for (;;) {
    try {
      // `realpath: false`: the path locked need not exist; the lock folder is `lockPath` itself.
      const release = await lockfile().lock(lockPath, {
        lockfilePath: lockPath,
        realpath: false,
        stale: staleMs,
        update: Math.max(1000, Math.floor(staleMs / 6)),
        onCompromised: (err) => {
          compromised = err;
        },
      });
      const owner: LockOwner = { pid: process.pid, host: hostname(), since: new Date().toISOString(), purpose: options.purpose };
      // Not fsynced: it only names the holder in another process's message (and lets a lock whose
      // holder died be taken over at once); one a crash left empty reads as "owner unknown", and
      // the lock itself goes stale. An fsync here was a disk wait on every writer's first batch.
      await writeFileAtomic(ownerPath(lockPath), JSON.stringify(owner), { fsync: false });
      return {
        path: lockPath,
        assertHeld: () => {
          if (compromised) throw new ConflictError(`lost the lock ${lockPath} (${compromised.message}): another process may have taken it; run the ${options.purpose} again`, { cause: compromised });
        },
        release: async () => {
          // The owner file goes only while it is still ours: after a takeover it names the new holder.
          const written = await ownerOf(lockPath);
          if (written?.pid === owner.pid && written.since === owner.since) await rm(ownerPath(lockPath), { force: true });
          if (!compromised) await release();
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') throw err;
      const owner = await ownerOf(lockPath);
      if (await removeIfHolderDead(lockPath, owner)) continue;
      if (Date.now() >= deadline) {
        const who = owner ? `another ${owner.purpose} holds ${lockPath} since ${owner.since}, pid ${owner.pid} on ${owner.host}` : `another process holds ${lockPath} (owner unknown)`;
        throw new ConflictError(`${who}: wait for it to finish and try again (a lock left by a killed process is taken over after ${Math.round(staleMs / 1000)} s)`);
      }
      if (!told) options.onWait?.(busyMessage(lockPath, owner, options.purpose));
      told = true;
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }
}

/** Runs `fn` while holding the lock; released however `fn` ends. */
export async function withExclusiveLock<T>(lockPath: string, options: ExclusiveLockOptions, fn: (held: HeldLock) => Promise<T>): Promise<T> {
  const held = await acquireExclusiveLock(lockPath, options);
  try {
    return await fn(held);
  } finally {
    await held.release();
  }
}
