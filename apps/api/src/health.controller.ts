import { Controller, Get, HttpException, HttpStatus, Inject, Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { classify } from '@rescue/domain';
import { kbIntegrity } from '@rescue/knowledge';
import { PRODUCER_REDIS } from '@rescue/queue';
import type { ApiConfig } from './api.config';
import { API_CONFIG } from './api.tokens';

/** What readiness says of the KB folder: no folder configured, nothing published yet, or its live version checked. */
type KbReadiness = 'not-configured' | 'absent' | 'verified' | 'corrupt' | 'unreadable';

/**
 * Liveness says the process is up; readiness says it can take work: Redis answers, and the KB
 * folder's live version (when one is configured and published) passes its checksums. The KB is
 * hashed once per version (KbDirectory.verifyOnce), so a probe costs a read of CURRENT.
 */
@Controller('health')
export class HealthController {
  private readonly logger = new Logger(HealthController.name);
  /** The last KB finding logged, so a broken version is logged once, not on every probe. */
  private lastLogged?: string;

  constructor(
    @Inject(PRODUCER_REDIS) private readonly redis: Redis,
    @Inject(API_CONFIG) private readonly config: ApiConfig,
  ) {}

  @Get('live')
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('ready')
  async ready(): Promise<{ status: 'ok'; redis: 'up'; kb?: KbReadiness; kbVersion?: string }> {
    let redis: 'up' | 'down' = 'up';
    try {
      await this.redis.ping();
    } catch (_unreachable) {
      // Swallowed on purpose: whatever the cause (refused, timeout, auth), the probe's answer is
      // "down", and an unauthenticated endpoint must not publish it (it may name hosts).
      redis = 'down';
    }
    const { kb, kbVersion } = await this.kb();
    // Without a KB folder the answer is what it always was: only Redis counts.
    const about = kb === 'not-configured' ? {} : { kb, ...(kbVersion ? { kbVersion } : {}) };
    // A KB not yet published is not a fault of this process (the API also takes build jobs); a
    // published one that fails its checksums, or cannot be read, would serve wrong answers.
    if (redis === 'down' || kb === 'corrupt' || kb === 'unreadable') {
      throw new HttpException({ status: 'unavailable', redis, ...about }, HttpStatus.SERVICE_UNAVAILABLE);
    }
    return { status: 'ok', redis, ...about };
  }

  private async kb(): Promise<{ kb: KbReadiness; kbVersion?: string }> {
    const dir = this.config.RESCUE_KB_DIR;
    if (!dir) return { kb: 'not-configured' };
    try {
      const found = await kbIntegrity(dir);
      if (found.state === 'absent') return { kb: 'absent' };
      if (found.state === 'corrupt') {
        // The files and faults go to the log, not to the unauthenticated response (they name paths).
        this.logOnce(`KB version ${found.version} in ${dir} fails verification: ${found.verification.problems.map((p) => `${p.file}: ${p.problem}`).join('; ')}; rebuild it with "rescue kb build"`);
        return { kb: 'corrupt', kbVersion: found.version };
      }
      return { kb: 'verified', kbVersion: found.version };
    } catch (err) {
      this.logOnce(`KB folder ${dir} cannot be checked: ${classify(err).message}`);
      return { kb: 'unreadable' };
    }
  }

  private logOnce(message: string): void {
    if (message === this.lastLogged) return;
    this.lastLogged = message;
    this.logger.error(message);
  }
}
