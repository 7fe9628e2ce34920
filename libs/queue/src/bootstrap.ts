import { type INestApplicationContext, Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';

/**
 * Starts a worker app as a Nest application context (workers serve no HTTP) with shutdown hooks
 * on, so SIGTERM closes BullMQ workers (which wait for their active jobs) before the process exits.
 */
export async function bootstrapWorker(name: string, module: unknown): Promise<INestApplicationContext> {
  const app = await NestFactory.createApplicationContext(module as never);
  app.enableShutdownHooks();
  new Logger(name).log('started');
  return app;
}
