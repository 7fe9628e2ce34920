import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { httpEnv, loadConfigOrExit, redisEnv } from '@rescue/config';
import { ApiModule } from './api.module';

async function main(): Promise<void> {
  const config = loadConfigOrExit('api', redisEnv.extend(httpEnv.shape));
  const app = await NestFactory.create(ApiModule.register(config));
  app.enableShutdownHooks();
  await app.listen(config.PORT, config.HOST);
  new Logger('api').log(`listening on http://${config.HOST}:${config.PORT}`);
}

void main();
