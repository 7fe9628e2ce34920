import { BadRequestException, Body, Controller, HttpCode, Post, UseGuards } from '@nestjs/common';
import { ApiKeyGuard } from './api-key.guard';
import { RetrievalService } from './retrieval.service';
import { RetrieveRequestSchema } from './retrieve-request';

/** `POST /v1/retrieve`: the security context for one task (offline mode), as `rescue retrieve` prints it. */
@Controller('v1')
@UseGuards(ApiKeyGuard)
export class RetrievalController {
  constructor(private readonly retrieval: RetrievalService) {}

  @Post('retrieve')
  @HttpCode(200)
  async retrieve(@Body() body: unknown) {
    const parsed = RetrieveRequestSchema.safeParse(body ?? {});
    if (!parsed.success) {
      // Every bad field with its path, in one answer.
      throw new BadRequestException({ message: 'invalid request', problems: parsed.error.issues.map((i) => ({ field: i.path.join('.') || '(body)', message: i.message })) });
    }
    return this.retrieval.retrieve(parsed.data);
  }
}
