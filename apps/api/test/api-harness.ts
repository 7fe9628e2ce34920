import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { Test } from '@nestjs/testing';
import { testRedisUrl } from '@rescue/testing';
import { type ApiConfig, loadApiConfig } from '../src/api.config';
import { RedisStatus } from '../src/api-redis';
import { ApiModule } from '../src/api.module';
import { configureApiApp, configureServer } from '../src/app-setup';

export interface RunningApi {
  app: NestExpressApplication;
  url: string;
  config: ApiConfig;
  /** Every log line the app wrote, as text (JSON lines). */
  logs: () => string;
  close: () => Promise<void>;
  /** Resolves once the app's Redis connection is ready (it connects in the background). */
  redisReady: () => Promise<void>;
}

/** Starts the API as main.ts does (the same middleware, body parser last), on a free port. */
export async function startApi(env: Record<string, string>): Promise<RunningApi> {
  const config = loadApiConfig({ REDIS_URL: testRedisUrl(), ...env });
  const moduleRef = await Test.createTestingModule({ imports: [ApiModule.register(config)] }).compile();
  const app = moduleRef.createNestApplication<NestExpressApplication>({ bodyParser: false });
  const sink = new PassThrough();
  const chunks: Buffer[] = [];
  sink.on('data', (c: Buffer) => chunks.push(c));
  configureApiApp(app, config, { logDestination: sink });
  await app.listen(0, '127.0.0.1');
  configureServer(app.getHttpServer(), config);
  const url = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  return {
    app,
    url,
    config,
    logs: () => Buffer.concat(chunks).toString('utf8'),
    close: () => app.close(),
    redisReady: () => until(() => app.get(RedisStatus).isReady(), 5000, 'the API never connected to Redis'),
  };
}

export const postJson = (url: string, path: string, body: unknown, key?: string): Promise<Response> =>
  fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) }, body: JSON.stringify(body) });

async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(what);
    await new Promise((r) => setTimeout(r, 20));
  }
}
