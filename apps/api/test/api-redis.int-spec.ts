import { createServer } from 'node:net';
import { QueueName } from '@rescue/contracts';
import { PipelineQueue } from '@rescue/queue';
import { apiQueueErrors, lazyApiRedis } from '../src/api-redis';

/** A port nothing listens on: taken from the OS, then let go. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("the API's job queues while Redis is away", () => {
  it('print no raw stack per queue and reconnect (the connection tells the outage once); other errors are logged', async () => {
    const printed: string[] = [];
    const consoleError = jest.spyOn(console, 'error').mockImplementation((...args: unknown[]) => void printed.push(args.map(String).join(' ')));
    const warned: string[] = [];
    const redis = lazyApiRedis(`redis://127.0.0.1:${await closedPort()}`);
    try {
      const queue = new PipelineQueue(redis, 'api-redis-spec').reportTo(apiQueueErrors({ warn: (line: string) => void warned.push(line) } as never));
      const generate = queue.queue(QueueName.Generate);
      queue.queue(QueueName.Index);
      // ioredis retries after 200 ms, then 400 ms: each failed attempt reaches every queue on the connection.
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(printed).toEqual([]);
      expect(warned).toEqual([]);
      generate.emit('error', new Error('NOSCRIPT No matching script'));
      expect(warned).toEqual([`queue ${QueueName.Generate}: NOSCRIPT No matching script`]);
    } finally {
      consoleError.mockRestore();
      redis.disconnect();
    }
  });
});
