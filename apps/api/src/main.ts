import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { loadConfigOrExit } from '@rescue/config';
import { installBoundedShutdown } from '@rescue/observability';
import { apiEnv } from './api.config';
import { ApiModule } from './api.module';
import { configureApiApp, configureServer } from './app-setup';
import { ReadinessService } from './readiness.service';

async function main(): Promise<void> {
  const config = loadConfigOrExit('api', apiEnv);
  // bufferLogs: Nest's start-up lines wait for the pino logger configureApiApp installs.
  const app = await NestFactory.create<NestExpressApplication>(ApiModule.register(config), { bodyParser: false, bufferLogs: true });
  configureApiApp(app, config);
  const logger = new Logger('api');
  // Not app.enableShutdownHooks(): Nest's hooks would close without a bound. This closes the server
  // (no new connections), lets in-flight requests finish, closes the pools and Redis, and exits
  // after SHUTDOWN_GRACE_MS in any case (a Redis that is down must not hold the pod).
  const readiness = app.get(ReadinessService);
  installBoundedShutdown({
    graceMs: config.SHUTDOWN_GRACE_MS,
    onSignal: () => {
      readiness.closing = true;
    },
    close: () => app.close(),
    log: (msg, fields) => logger.log(`${msg} ${fields ? JSON.stringify(fields) : ''}`.trim()),
  });
  await app.listen(config.PORT, config.HOST);
  configureServer(app.getHttpServer(), config);
  logger.log(`listening on http://${config.HOST}:${config.PORT}`);
  if (config.API_KEYS.length === 0 && !['127.0.0.1', 'localhost', '::1'].includes(config.HOST))
    logger.warn('API_KEYS is unset and HOST is not loopback: anyone who can reach the port can call the API');
}

void main();
