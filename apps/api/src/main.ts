import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { loadConfigOrExit } from '@rescue/config';
import { apiEnv } from './api.config';
import { ApiModule } from './api.module';

async function main(): Promise<void> {
  const config = loadConfigOrExit('api', apiEnv);
  const app = await NestFactory.create<NestExpressApplication>(ApiModule.register(config), { bodyParser: false });
  // A task's code prefix can be long; the request schema caps the prompt at 512 KiB.
  app.useBodyParser('json', { limit: '1mb' });
  app.enableShutdownHooks();
  await app.listen(config.PORT, config.HOST);
  const logger = new Logger('api');
  logger.log(`listening on http://${config.HOST}:${config.PORT}`);
  if (config.API_KEYS.length === 0 && !['127.0.0.1', 'localhost', '::1'].includes(config.HOST)) logger.warn('API_KEYS is unset and HOST is not loopback: anyone who can reach the port can call the API');
}

void main();
