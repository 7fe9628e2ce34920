import { BadRequestException, Body, Controller, HttpCode, HttpException, Post, Req, Res, UseGuards } from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiKeyGuard, RequireScopes } from './api-key.guard';
import { PoolBusyError } from './retrieval-pool';
import { RetrievalService } from './retrieval.service';
import { RetrieveRequestSchema } from './retrieve-request';
import { requestSignal } from './request-limits';

/** `POST /v1/retrieve`: the security context for one task (offline mode), as `rescue retrieve` prints it. */
@Controller('v1')
@UseGuards(ApiKeyGuard)
export class RetrievalController {
  constructor(private readonly retrieval: RetrievalService) {}

  @Post('retrieve')
  @HttpCode(200)
  @RequireScopes('retrieve')
  async retrieve(@Body() body: unknown, @Req() req: IncomingMessage, @Res({ passthrough: true }) res: ServerResponse) {
    const parsed = RetrieveRequestSchema.safeParse(body ?? {});
    if (!parsed.success) {
      // Every bad field with its path, in one answer.
      throw new BadRequestException({ message: 'invalid request', problems: parsed.error.issues.map((i) => ({ field: i.path.join('.') || '(body)', message: i.message })) });
    }
    try {
      return await this.retrieval.retrieve(parsed.data, requestSignal(req));
    } catch (err) {
      if (!(err instanceof PoolBusyError)) throw err;
      res.setHeader('Retry-After', '1');
      throw new HttpException({ statusCode: 503, message: `busy: ${err.message}; retry shortly`, error: 'busy' }, 503);
    }
  }
}
