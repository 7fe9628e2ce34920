import { Injectable, type OnModuleInit } from '@nestjs/common';
import { QueueName } from '@rescue/contracts';
import { Metrics, QUEUE_STATES } from '@rescue/observability';
import { PipelineQueue } from '@rescue/queue';
import { RedisStatus } from './api-redis';
import { TransientUpstreamError } from '@rescue/domain';

/** Feeds `rescue_queue_jobs` from BullMQ at scrape time, when Redis answers (within 2 s). */
@Injectable()
export class QueueMetrics implements OnModuleInit {
  constructor(
    private readonly metrics: Metrics,
    private readonly queue: PipelineQueue,
    private readonly redis: RedisStatus,
  ) {}

  onModuleInit(): void {
    this.metrics.watchQueues(async () => {
      if (!this.redis.isReady()) return undefined;
      let timer: NodeJS.Timeout | undefined;
      const read = Promise.all(Object.values(QueueName).map(async (name) => [name, await this.queue.queue(name).getJobCounts(...QUEUE_STATES)] as const));
      const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new TransientUpstreamError('queue counts took over 2 s')), 2000)));
      try {
        return Object.fromEntries(await Promise.race([read, timeout]));
      } finally {
        clearTimeout(timer);
      }
    });
  }
}
