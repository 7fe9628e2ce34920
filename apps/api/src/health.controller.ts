import { Controller, Get, HttpException, HttpStatus, Inject } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { PRODUCER_REDIS } from '@rescue/queue';

/** Liveness says the process is up; readiness says it can take work (Redis answers). */
@Controller('health')
export class HealthController {
  constructor(@Inject(PRODUCER_REDIS) private readonly redis: Redis) {}

  @Get('live')
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('ready')
  async ready(): Promise<{ status: 'ok'; redis: 'up' }> {
    try {
      await this.redis.ping();
    } catch (_unreachable) {
      // Swallowed on purpose: whatever the cause (refused, timeout, auth), the probe's answer is
      // "down", and an unauthenticated endpoint must not publish it (it may name hosts).
      throw new HttpException({ status: 'unavailable', redis: 'down' }, HttpStatus.SERVICE_UNAVAILABLE);
    }
    return { status: 'ok', redis: 'up' };
  }
}
