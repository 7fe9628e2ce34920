import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { GenerationBatches, KbBuildJobs } from '@rescue/pipeline';
import { RedisStatus } from '../api-redis';
import type { ApiConfig } from '../api.config';
import { API_CONFIG } from '../api.tokens';
import type { WebhookDeliveries } from '../webhooks/webhook-deliveries';
import { WEBHOOK_DELIVERIES } from './jobs.tokens';

/**
 * The API's one background loop: records the outcome of open KB builds before the queue trims
 * their jobs, notices batches that have settled (re-enqueueing any task Redis lost on the way) and
 * schedules their webhooks, and sends the webhooks that are due. Every API process runs it; the
 * state it works on is in Redis, so any of them (or the next one to start) carries on.
 */
@Injectable()
export class JobsWatcher implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('jobs-watcher');
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;

  constructor(
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    private readonly builds: KbBuildJobs,
    private readonly batches: GenerationBatches,
    @Inject(WEBHOOK_DELIVERIES) private readonly webhooks: WebhookDeliveries | null,
    private readonly redis: RedisStatus,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => {
      // One pass at a time: a slow pass (many open batches) is not stacked on by the next tick.
      this.running ??= this.tick().finally(() => (this.running = undefined));
    }, this.config.JOB_WATCH_INTERVAL_MS);
    this.timer.unref();
  }

  async tick(): Promise<void> {
    // Redis away: nothing to look at; the API says so itself (api-redis.ts).
    if (!this.redis.isReady()) return;
    try {
      await this.builds.settleOpen();
      for (const { batch, webhookUrl } of await this.batches.settledSinceLastAsked()) {
        if (!webhookUrl || !this.webhooks) continue;
        await this.webhooks.schedule(webhookUrl, 'generation.batch.completed', { batch }, `${batch.id}-r${batch.round}`);
      }
      await this.webhooks?.deliverDue();
    } catch (err) {
      // The loop must outlive a Redis blip; the next tick retries, the operator sees why.
      this.logger.warn(`job watch pass failed: ${(err as Error).message}`);
    }
  }

  async onModuleDestroy(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
}
