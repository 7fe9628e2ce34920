import { HttpException, HttpStatus, Inject, Injectable, Logger, ServiceUnavailableException } from '@nestjs/common';
import type { OfflineRetrieval } from '@rescue/generation';
import type { ApiConfig } from './api.config';
import { API_CONFIG } from './api.tokens';
import { RetrievalPool } from './retrieval-pool';
import type { RetrieveRequest } from './retrieve-request';
import { TransientUpstreamError } from '@rescue/domain';

/**
 * Offline retrieval for upstream services, run in the worker-thread pool: each request is answered
 * by the KB version live when it arrives (a republish is noticed within a second, no restart), and
 * says which version that was.
 */
@Injectable()
export class RetrievalService {
  private readonly logger = new Logger('retrieval');

  constructor(
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    private readonly pool: RetrievalPool,
  ) {}

  private requireKb(): void {
    if (!this.config.RESCUE_KB_DIR && !this.config.ELASTICSEARCH_URL)
      throw new ServiceUnavailableException('no KB configured: set RESCUE_KB_DIR to a folder built by `rescue kb build`, or ELASTICSEARCH_URL to a cluster it was published to');
  }

  async retrieve(request: RetrieveRequest, signal?: AbortSignal): Promise<OfflineRetrieval & { kbVersion: string }> {
    this.requireKb();
    const heavy = this.pool.isHeavy(Buffer.byteLength(request.prompt));
    const answer = await this.pool.run({ kind: 'retrieve', request }, { heavy, signal }).catch((err: unknown) => {
      // Cancelled because the request timed out (answered already) or the client left: nothing to
      // report, and nobody to report it to. An HttpException, so Nest does not log it as a fault.
      if (signal?.aborted) throw new HttpException({ statusCode: 503, message: 'the request was cancelled', error: 'cancelled' }, 503);
      throw err;
    });
    if (answer.ok && answer.result) return { ...answer.result, kbVersion: answer.kbVersion };
    if (answer.ok) throw new TransientUpstreamError('the retrieval worker answered without a result');
    if (answer.status >= 500 && answer.status !== 503) {
      // The cause is the operator's to read, not the client's (it may name files or hosts).
      this.logger.error(`retrieval failed: ${answer.message}`);
      throw new HttpException({ statusCode: answer.status, message: 'retrieval failed; the server log has the cause', error: answer.kind ?? 'internal' }, answer.status);
    }
    throw new HttpException({ statusCode: answer.status, message: answer.message, error: answer.kind ?? HttpStatus[answer.status] }, answer.status);
  }

  /** Opens the live KB in a pool thread: its version, or why it cannot be opened. */
  async probe(signal?: AbortSignal): Promise<{ ok: true; kbVersion: string } | { ok: false; reason: string }> {
    if (!this.config.RESCUE_KB_DIR && !this.config.ELASTICSEARCH_URL) return { ok: false, reason: 'no KB configured (RESCUE_KB_DIR or ELASTICSEARCH_URL)' };
    const answer = await this.pool.run({ kind: 'probe' }, { heavy: false, signal });
    return answer.ok ? { ok: true, kbVersion: answer.kbVersion } : { ok: false, reason: answer.message };
  }
}
