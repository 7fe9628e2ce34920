import { Injectable } from '@nestjs/common';
import { RedisStatus } from './api-redis';
import { RetrievalService } from './retrieval.service';

export type KbReadiness = { ok: true; kbVersion: string } | { ok: false; reason: string };

/**
 * What readiness means for the API, for the health controller to report:
 * - `kb()`: a KB is open for retrieval (a pool thread opened the live version); this is what the
 *   load balancer's readiness should follow, since retrieval is what most traffic needs;
 * - `redis()`: Redis answers, reported separately, because only the job endpoints need it;
 * - `closing`: set on SIGTERM, so readiness fails while in-flight requests finish.
 * Results are cached for a second: probes from several sources must not queue pool work.
 */
@Injectable()
export class ReadinessService {
  closing = false;
  private kbCheck?: { at: number; result: Promise<KbReadiness> };

  constructor(
    private readonly retrieval: RetrievalService,
    private readonly redisStatus: RedisStatus,
  ) {}

  kb(timeoutMs = 3000): Promise<KbReadiness> {
    const now = Date.now();
    if (this.kbCheck && now - this.kbCheck.at < 1000) return this.kbCheck.result;
    const result = this.retrieval.probe(AbortSignal.timeout(timeoutMs)).catch((err: unknown): KbReadiness => ({
      ok: false,
      reason: (err as Error).name === 'AbortError' ? `opening the KB took over ${timeoutMs} ms` : `the KB check failed: ${(err as Error).message}`,
    }));
    this.kbCheck = { at: now, result };
    return result;
  }

  redis(timeoutMs = 2000): Promise<boolean> {
    return this.redisStatus.ping(timeoutMs);
  }
}
