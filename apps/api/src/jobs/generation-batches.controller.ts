import { createHash } from 'node:crypto';
import { BadRequestException, Body, Controller, Get, Headers, HttpCode, Inject, Logger, Param, Post, Query, Req, Res, UseGuards } from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { GenerationBatchQuery, GenerationBatchRequest, type GenerationBatchSettingsValue } from '@rescue/contracts';
import { ConfigError, ConflictError, canonicalJson } from '@rescue/domain';
import { KbDirectory } from '@rescue/knowledge';
import { type BatchResultItem, type BatchStatus, GenerationBatches } from '@rescue/pipeline';
import { ApiKeyGuard, RequireScopes } from '../api-key.guard';
import { RedisRequiredGuard } from '../api-redis';
import type { ApiConfig } from '../api.config';
import { API_CONFIG } from '../api.tokens';
import { checkWebhookUrl } from '../webhooks/webhook-target';
import { type RejectedTask, checkTasks, readNdjsonTasks } from './batch-input';
import { bodyKind, parseRequest } from './request-validation';

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

const PAGE_DEFAULT = 100;
const PAGE_MAX = 1000;

/**
 * Generation batches for upstream services (generate scope): one queue job per task on the
 * generator workers, answered from the KB version live at submit.
 */
@Controller('v1/generation/batches')
@UseGuards(ApiKeyGuard, RedisRequiredGuard)
@RequireScopes('generate')
export class GenerationBatchesController {
  private readonly logger = new Logger('generation-batches');

  constructor(
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    private readonly batches: GenerationBatches,
  ) {}

  /**
   * 201 with the new batch's status, or 200 with the same batch when an earlier request carried the
   * same Idempotency-Key and body (`Idempotent-Replayed: true`; nothing is enqueued again).
   */
  @Post()
  async submit(
    @Req() req: IncomingMessage,
    // Not passthrough: Nest would overwrite the status (201 or 200) with its default for POST.
    @Res() res: ServerResponse,
    @Body() body: unknown,
    @Query() query: Record<string, unknown>,
    @Headers('idempotency-key') idempotencyKey: string | undefined,
  ): Promise<void> {
    if (idempotencyKey !== undefined && !/^[\x21-\x7e]{1,255}$/.test(idempotencyKey)) throw new BadRequestException('Idempotency-Key: 1 to 255 visible ASCII characters (a UUID is a good choice)');
    let settings: GenerationBatchSettingsValue;
    let items: { at: string; value: unknown }[];
    let unreadable: RejectedTask[] = [];
    let bodyHash: string;
    if (bodyKind(req.headers['content-type']) === 'ndjson') {
      settings = parseRequest(GenerationBatchQuery, query, 'query.');
      const read = await readNdjsonTasks(req, this.config.GENERATION_SUBMIT_MAX_BYTES);
      items = read.items;
      unreadable = read.unreadable;
      bodyHash = createHash('sha256')
        .update(`${canonicalJson(settings)}\n${read.bodyHash}`)
        .digest('hex');
    } else {
      const { tasks, ...rest } = parseRequest(GenerationBatchRequest, body);
      settings = rest;
      items = tasks.map((value, i) => ({ at: `tasks.${i}`, value }));
      bodyHash = createHash('sha256').update(canonicalJson(body)).digest('hex');
    }
    const { tasks, rejected } = checkTasks(items);
    const rejectedTasks = [...unreadable, ...rejected];
    if (tasks.length === 0)
      throw new BadRequestException({ message: 'no valid task in the batch', problems: rejectedTasks.slice(0, 100).map((r) => ({ field: `${r.at}.${r.field}`, message: r.message })) });
    if (settings.webhookUrl) {
      if (!this.config.WEBHOOK_SECRET) throw new ConfigError(['WEBHOOK_SECRET is unset on the API: webhooks are signed with it, so a batch with a webhookUrl cannot be accepted']);
      await checkWebhookUrl(settings.webhookUrl, this.config.WEBHOOK_ALLOW_PRIVATE);
    }
    const kbDir = this.config.RESCUE_KB_DIR;
    if (!kbDir) throw new ConfigError(['RESCUE_KB_DIR is unset: set it to the KB folder the generator workers share']);
    const dir = new KbDirectory(kbDir);
    const kbVersion = await dir.current();
    if (!kbVersion) throw new ConflictError('no KB version is published yet: build one first (POST /v1/kb/builds)');
    const caller = createHash('sha256')
      .update(req.headers.authorization ?? '')
      .digest('hex');
    const { batch, replayed } = await this.batches.submit({
      tasks,
      rejected: rejectedTasks.length,
      settings,
      kbDir,
      kbVersion,
      idempotency: idempotencyKey === undefined ? undefined : { key: idempotencyKey, caller, bodyHash },
    });
    if (replayed) res.setHeader('Idempotent-Replayed', 'true');
    res.setHeader('Location', `/v1/generation/batches/${batch.id}`);
    // The first 100 refused tasks with their place; `rejected` counts them all.
    sendJson(res, replayed ? 200 : 201, { ...batch, rejectedTasks: rejectedTasks.slice(0, 100) });
  }

  @Get(':id')
  status(@Param('id') id: string): Promise<BatchStatus> {
    return this.batches.status(id);
  }

  /**
   * Results in submit order, one item per task (done with its result, failed with its error,
   * pending or cancelled): pages of `limit` with `nextCursor`, or with `Accept: application/x-ndjson`
   * every item from `cursor` on, one JSON line each, streamed.
   */
  @Get(':id/results')
  async results(
    @Param('id') id: string,
    @Query('cursor') cursor: string | undefined,
    @Query('limit') limitText: string | undefined,
    @Headers('accept') accept: string | undefined,
    // Not passthrough: the NDJSON branch writes the response itself.
    @Res() res: ServerResponse,
  ): Promise<void> {
    const limit = limitText === undefined ? PAGE_DEFAULT : Number(limitText);
    if (!Number.isInteger(limit) || limit < 1 || limit > PAGE_MAX) throw new BadRequestException(`limit: a whole number from 1 to ${PAGE_MAX}, got ${JSON.stringify(String(limitText).slice(0, 20))}`);
    if (!/application\/x-ndjson/i.test(accept ?? '')) {
      const page: { items: BatchResultItem[]; nextCursor?: string } = await this.batches.results(id, cursor, limit);
      sendJson(res, 200, page);
      return;
    }
    // The first page is read before the headers go out, so an unknown batch is still a clean 404.
    let page = await this.batches.results(id, cursor, PAGE_MAX);
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    try {
      for (;;) {
        for (const item of page.items) {
          if (!res.write(`${JSON.stringify(item)}\n`)) await new Promise((r) => res.once('drain', r));
        }
        if (!page.nextCursor) break;
        page = await this.batches.results(id, page.nextCursor, PAGE_MAX);
      }
      res.end();
    } catch (err) {
      // The status line is out: the only honest signal left is a cut stream (no clean end), which
      // an NDJSON reader sees as an incomplete body. The cause goes to the operator's log.
      this.logger.warn(`results stream of batch ${id} cut: ${(err as Error).message}`);
      res.destroy(err as Error);
    }
  }

  /** Runs the failed tasks again; the batch's webhook, if any, is sent again once they settle. */
  @Post(':id/retry-failed')
  @HttpCode(202)
  retryFailed(@Param('id') id: string): Promise<{ retried: number; round: number }> {
    return this.batches.retryFailed(id);
  }

  /** Removes the tasks still waiting; running ones finish. */
  @Post(':id/cancel')
  @HttpCode(200)
  cancel(@Param('id') id: string): Promise<BatchStatus> {
    return this.batches.cancel(id);
  }
}
