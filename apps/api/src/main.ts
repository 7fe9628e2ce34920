import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { httpEnv, loadConfig, redisEnv } from '@rescue/config';
import { ConfigError } from '@rescue/domain';
import { ApiModule } from './api.module';

async function main(): Promise<void> {
  const logger = new Logger('api');
  let config;
  try {
    config = loadConfig(redisEnv.extend(httpEnv.shape));
  } catch (err) {
    if (err instanceof ConfigError) {
      logger.error(`cannot start: ${err.problems.length} invalid setting(s):\n  ${err.problems.join('\n  ')}`);
      process.exit(1);
    }
    throw err;
  }
  const app = await NestFactory.create(ApiModule.register(config));
  app.enableShutdownHooks();
  await app.listen(config.PORT, config.HOST);
  logger.log(`listening on http://${config.HOST}:${config.PORT}`);
}

void main();
