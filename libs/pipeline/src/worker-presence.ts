import { QUEUE_CONSUMER, type QueueName } from '@rescue/contracts';
import type { PipelineQueue } from '@rescue/queue';

/**
 * What a status answer says when work waits in a queue nobody consumes: without it, a caller
 * polling a batch or a build sees "running" forever (issue 11, no silent waits). BullMQ names its
 * worker connections, so `getWorkersCount()` is one CLIENT LIST per queue.
 */
export async function unconsumedQueueWarnings(queue: PipelineQueue, queues: Iterable<QueueName>): Promise<string[]> {
  const out: string[] = [];
  for (const name of new Set(queues)) {
    if ((await queue.queue(name).getWorkersCount()) > 0) continue;
    out.push(
      `no worker consumes the "${name}" queue: its jobs wait until one starts (start the ${QUEUE_CONSUMER[name]} app: npm run start:${QUEUE_CONSUMER[name]}, or its Deployment / compose service)`,
    );
  }
  return out;
}
