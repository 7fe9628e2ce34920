import type { Job, Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { NotFoundError } from '@rescue/domain';
import { QueueWatch, type QueueWatchOptions } from './queue-watch';
import { whileRedisLinkDown } from './redis-link';

/** QUEUE_WAIT_TIMEOUT_MS's default, for callers whose configuration does not carry it. */
export const DEFAULT_QUEUE_WAIT_TIMEOUT_MS = 60_000;

/** Node's own default: the room an emitter has for listeners of one event before it warns. */
const DEFAULT_MAX_LISTENERS = 10;

/** Waits in progress per queue (see {@link listenerRoom}). */
const waitsOn = new WeakMap<Queue, number>();

/**
 * BullMQ's `waitUntilFinished` adds a 'closing' listener to the queue for each job waited on, so a
 * producer waiting on more than ten jobs at once (a batch's in-flight tasks) made Node print a
 * "possible EventEmitter memory leak" warning that operators would chase. The queue's listener
 * limit follows the waits in progress instead, keeping Node's default room of ten for any other
 * listener, so a real leak still warns. Returns what gives the room back.
 */
function listenerRoom(queue: Queue): () => void {
  const roomFor = (waits: number): number => waits + DEFAULT_MAX_LISTENERS;
  const waiting = (waitsOn.get(queue) ?? 0) + 1;
  waitsOn.set(queue, waiting);
  if (queue.getMaxListeners() < roomFor(waiting)) queue.setMaxListeners(roomFor(waiting));
  return () => {
    const left = (waitsOn.get(queue) ?? 1) - 1;
    waitsOn.set(queue, left);
    // Shrunk back only from the room these waits made (a limit someone else raised stays).
    if (queue.getMaxListeners() === roomFor(left + 1)) queue.setMaxListeners(roomFor(left));
  };
}

/**
 * Waits until a job has completed or failed for good (after its retries) and returns it re-read,
 * so its state, return value and failure reason are current. A failure of the job is not thrown:
 * callers inspect the job. `events` must listen on the job's queue and prefix.
 *
 * The wait is watched (see {@link QueueWatch}): it fails with a classified error, saying what to
 * do, when no worker consumes the queue, Redis loses its data or stays down, or the job vanishes.
 * Pass one started `QueueWatch` when waiting on many jobs (one set of checks for all), or options
 * for a watch of this wait alone. A number (as older callers pass) also bounds the whole wait: at
 * that many ms the job is returned as it is, unsettled.
 */
export async function settledJob(queue: Queue, jobId: string, events: QueueEvents, watch: QueueWatch | Partial<QueueWatchOptions> | number = {}): Promise<Job> {
  const finishTimeoutMs = typeof watch === 'number' ? watch : undefined;
  const options = typeof watch === 'number' ? {} : watch;
  const linkTimeoutMs = options instanceof QueueWatch ? options.timeoutMs : (options.timeoutMs ?? DEFAULT_QUEUE_WAIT_TIMEOUT_MS);
  const job = await whileRedisLinkDown(() => queue.getJob(jobId), linkTimeoutMs);
  if (!job) throw new NotFoundError(`job ${jobId} is not in the ${queue.name} queue`);
  const own =
    options instanceof QueueWatch
      ? undefined
      : await new QueueWatch(queue, (await queue.backend.client) as unknown as Redis, { ...options, timeoutMs: options.timeoutMs ?? DEFAULT_QUEUE_WAIT_TIMEOUT_MS }).start();
  const watching = own ?? (options as QueueWatch);
  const release = listenerRoom(queue);
  try {
    const finished = job.waitUntilFinished(events, finishTimeoutMs).then(
      () => undefined,
      () => undefined,
    );
    await Promise.race([finished.then(() => watching.forget(jobId)), watching.settled(jobId)]);
  } finally {
    release();
    await own?.close();
  }
  const fresh = await whileRedisLinkDown(() => queue.getJob(jobId), linkTimeoutMs);
  if (!fresh) throw new NotFoundError(`job ${jobId} vanished from the ${queue.name} queue before it settled (removed, or Redis lost its data): run the same command again to enqueue it anew`);
  return fresh;
}

/**
 * Why a job failed, following a flow's failed children down to the job that failed first: a
 * parent failed by BullMQ's `failParentOnFailure` only says "child <prefix>:<queue>:<id> failed",
 * which tells an operator nothing. `jobOf` reads a job of a queue (of the same prefix).
 */
export async function rootFailure(job: Job, jobOf: (queueName: string, jobId: string) => Promise<Job | undefined>, depth = 5): Promise<string> {
  const reason = job.failedReason ?? 'unknown reason';
  const child = /child [^:\s]+:([^:\s]+):(\S+) failed/.exec(reason);
  if (!child || depth === 0) return reason;
  const failed = await jobOf(child[1], child[2]);
  if (!failed?.failedReason) return reason;
  return `${failed.name} ${failed.id}: ${await rootFailure(failed, jobOf, depth - 1)}`;
}
