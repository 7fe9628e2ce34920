import { type INestApplicationContext, Logger } from '@nestjs/common';
import { DiscoveryService, NestFactory } from '@nestjs/core';
import { QueueBase, type Worker } from 'bullmq';
import type { RedisOptions } from 'ioredis';
import { RedisLink } from './redis-link';

/**
 * Starts a worker app as a Nest application context (workers serve no HTTP) with shutdown hooks
 * on, so SIGTERM closes BullMQ workers (which wait for their active jobs) before the process exits.
 * Every BullMQ object of the app reports to one {@link RedisLink}: a Redis outage is one
 * "Redis lost" line and one "Redis back" line, not a stack per connection and reconnect.
 */
export async function bootstrapWorker(name: string, module: unknown): Promise<INestApplicationContext> {
  const app = await NestFactory.createApplicationContext(module as never);
  app.enableShutdownHooks();
  const logger = new Logger(name);
  watchRedisLink(app, (line) => logger.warn(line));
  logger.log('started');
  return app;
}

/** The BullMQ objects among the app's providers: queues, and the workers behind processors (WorkerHost). */
function bullObjects(app: INestApplicationContext): Array<{ emitter: QueueBase; what: string }> {
  const found: Array<{ emitter: QueueBase; what: string }> = [];
  for (const wrapper of app.get(DiscoveryService, { strict: false }).getProviders()) {
    const instance: unknown = wrapper.instance;
    if (instance instanceof QueueBase) found.push({ emitter: instance, what: `${instance.constructor.name} ${instance.name}` });
    // WorkerHost keeps its worker behind a getter that throws before the worker exists.
    const worker = (() => {
      try {
        return (instance as { worker?: unknown } | undefined)?.worker;
      } catch (_notYetCreated) {
        // The getter throws until the worker exists: no worker to watch yet.
        return undefined;
      }
    })();
    if (worker instanceof QueueBase) found.push({ emitter: worker, what: `worker ${(worker as Worker).name}` });
  }
  return found;
}

function watchRedisLink(app: INestApplicationContext, log: (line: string) => void): RedisLink | undefined {
  const objects = bullObjects(app);
  if (objects.length === 0) return undefined;
  const link = new RedisLink(objects[0].emitter.opts.connection as RedisOptions, log);
  for (const { emitter, what } of objects) link.watch(emitter, what);
  link.start();
  // The probe must not keep a closing process alive.
  process.once('beforeExit', () => link.stop());
  return link;
}
