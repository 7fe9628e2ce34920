import { type INestApplicationContext, Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ConfigError } from '@rescue/domain';

/**
 * Starts a worker app as a Nest application context (workers serve no HTTP) with shutdown hooks
 * on, so SIGTERM closes BullMQ workers (which wait for their active jobs) before the process exits.
 * A configuration error prints every invalid key and exits 1.
 */
export async function bootstrapWorker(name: string, makeModule: () => unknown): Promise<INestApplicationContext> {
  const logger = new Logger(name);
  let module: unknown;
  try {
    module = makeModule();
  } catch (err) {
    if (err instanceof ConfigError) {
      logger.error(`cannot start: ${err.problems.length} invalid setting(s):\n  ${err.problems.join('\n  ')}`);
      process.exit(1);
    }
    throw err;
  }
  const app = await NestFactory.createApplicationContext(module as never, { bufferLogs: false });
  app.enableShutdownHooks();
  logger.log('started');
  return app;
}
