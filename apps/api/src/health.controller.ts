import { Controller, Get, HttpException, HttpStatus, Inject, Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { classify } from '@rescue/domain';
import { kbIntegrity } from '@rescue/knowledge';
import { PRODUCER_REDIS } from '@rescue/queue';
import type { ApiConfig } from './api.config';
import { API_CONFIG } from './api.tokens';
import { ReadinessService } from './readiness.service';

/** What readiness says of the KB folder: no folder configured, nothing published yet, or its live version checked. */
type KbReadiness = 'not-configured' | 'absent' | 'verified' | 'corrupt' | 'unreadable';

/**
 * Liveness says the process is up; readiness says it can take work:
 * - with a KB folder, what most traffic needs: its live version passes its checksums (hashed once
 *   per version by KbDirectory.verifyOnce) and a retrieval thread has it open. Redis is reported
 *   but does not fail readiness then: retrieval does not need it, and the job endpoints answer 503
 *   on their own while it is away. A folder with nothing published yet is ready (the API also
 *   takes the build that will publish it; retrieve answers 503 until then);
 * - without one, the API is a job gateway only, so Redis must answer;
 * - never while closing (SIGTERM): in-flight requests finish, new ones go elsewhere.
 */
@Controller('health')
export class HealthController {
  private readonly logger = new Logger(HealthController.name);
  /** The last KB finding logged, so a broken version is logged once, not on every probe. */
  private lastLogged?: string;

  constructor(
    @Inject(PRODUCER_REDIS) private readonly redis: Redis,
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    private readonly readiness: ReadinessService,
  ) {}

  @Get('live')
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('ready')
  async ready(): Promise<{ status: 'ok'; redis: 'up' | 'down'; kb?: KbReadiness; kbVersion?: string }> {
    if (this.readiness.closing) throw new HttpException({ status: 'closing' }, HttpStatus.SERVICE_UNAVAILABLE);
    let redis: 'up' | 'down' = 'up';
    try {
      await this.redis.ping();
    } catch (_unreachable) {
      // Swallowed on purpose: whatever the cause (refused, timeout, auth), the probe's answer is
      // "down", and an unauthenticated endpoint must not publish it (it may name hosts).
      redis = 'down';
    }
    const found = await this.kb();
    let kb = found.kb;
    const kbVersion = found.kbVersion;
    if (kb === 'verified') {
      // Verified on disk; now the retrieval threads must actually have it open.
      const open = await this.readiness.kb();
      if (!open.ok) {
        this.logOnce(`KB in ${this.config.RESCUE_KB_DIR} is verified but not open for retrieval: ${open.reason}`);
        kb = 'unreadable';
      }
    }
    const about = kb === 'not-configured' ? {} : { kb, ...(kbVersion ? { kbVersion } : {}) };
    // A published version that fails its checksums, or cannot be opened, would serve wrong answers.
    if ((kb === 'not-configured' && redis === 'down') || kb === 'corrupt' || kb === 'unreadable') {
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
