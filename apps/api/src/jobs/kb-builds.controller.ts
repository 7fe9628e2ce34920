import { Body, Controller, Get, HttpCode, Inject, Logger, Param, Post, Query, Req, Res, UseGuards } from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { KbBuildRequest, KbBuildUploadQuery } from '@rescue/contracts';
import { ConfigError } from '@rescue/domain';
import { KbDirectory } from '@rescue/knowledge';
import { type KbBuildStatus, KbBuildJobs, newBuildId } from '@rescue/pipeline';
import { ApiKeyGuard, RequireScopes } from '../api-key.guard';
import { RedisRequiredGuard } from '../api-redis';
import type { ApiConfig } from '../api.config';
import { API_CONFIG } from '../api.tokens';
import { saveUpload, sourceUnderRoot } from './kb-sources';
import { bodyKind, parseRequest } from './request-validation';

/**
 * KB builds and versions for operators (admin scope): start a distributed build from named sources
 * on the shared volume or from an uploaded fix-pair JSONL stream, follow it stage by stage, list
 * the versions, and point CURRENT at one of them (a rollback).
 */
@Controller('v1/kb')
@UseGuards(ApiKeyGuard, RedisRequiredGuard)
@RequireScopes('admin')
export class KbBuildsController {
  private readonly logger = new Logger('kb-builds');

  constructor(
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    private readonly builds: KbBuildJobs,
  ) {}

  private kbDir(): string {
    if (!this.config.RESCUE_KB_DIR) throw new ConfigError(['RESCUE_KB_DIR is unset: set it to the KB folder on the volume the workers share; builds publish there']);
    return this.config.RESCUE_KB_DIR;
  }

  /** 202 with the build's status; `Location` is where to follow it. */
  @Post('builds')
  @HttpCode(202)
  async start(@Req() req: IncomingMessage, @Res({ passthrough: true }) res: ServerResponse, @Body() body: unknown, @Query() query: Record<string, unknown>): Promise<KbBuildStatus> {
    const kbDir = this.kbDir();
    const buildId = newBuildId();
    let options;
    let sources: string[];
    let catalog: string | undefined;
    if (bodyKind(req.headers['content-type']) === 'ndjson') {
      options = parseRequest(KbBuildUploadQuery, query, 'query.');
      const upload = await saveUpload(req, this.config.RESCUE_DATA_DIR, buildId, this.config.KB_UPLOAD_MAX_BYTES);
      sources = [upload.path];
      catalog = options.catalog;
    } else {
      options = parseRequest(KbBuildRequest, body);
      sources = await Promise.all(options.sources.map((s, i) => sourceUnderRoot(this.config.KB_SOURCES_ROOT, s, `sources.${i}`)));
      catalog = options.catalog;
    }
    const catalogPath = catalog === undefined ? undefined : await sourceUnderRoot(this.config.KB_SOURCES_ROOT, catalog, 'catalog');
    const status = await this.builds.start({
      buildId,
      sources,
      kbDir,
      catalogPath,
      hops: options.hops,
      clusterBy: options.clusterBy,
      catalogOnlyNodes: options.catalogOnlyNodes,
      distillation: options.distillation,
      batchSize: options.batchSize,
      embedder: options.embedder,
      elasticsearchPrefix: options.elasticsearchPrefix,
    });
    res.setHeader('Location', `/v1/kb/builds/${buildId}`);
    return status;
  }

  @Get('builds/:id')
  build(@Param('id') id: string): Promise<KbBuildStatus> {
    return this.builds.status(id);
  }

  /** Every version kept in the KB folder, newest first, and the one CURRENT points to. */
  @Get('versions')
  async versions(): Promise<{ current?: string; versions: { version: string; createdAt: string; counts: unknown; distillation: unknown; current: boolean }[] }> {
    const dir = new KbDirectory(this.kbDir());
    const [versions, current] = await Promise.all([dir.list(), dir.current()]);
    return { current, versions: versions.map((m) => ({ version: m.version, createdAt: m.createdAt, counts: m.counts, distillation: m.distillation, current: m.version === current })) };
  }

  /**
   * Points CURRENT at a kept version (a rollback, or back again). Retrieval and new generation
   * batches follow within a second; batches already running keep the version they were planned on.
   * The KB folder's pointer only: a KB also published to Elasticsearch keeps its alias there.
   */
  @Post('versions/:version/publish')
  @HttpCode(200)
  async publish(@Param('version') version: string): Promise<{ current: string; previous?: string }> {
    const dir = new KbDirectory(this.kbDir());
    const previous = await dir.current();
    // A build publishing into the folder holds its lock: wait for it within the request's timeout.
    const manifest = await dir.activate(version, { lockWaitMs: 20_000, onLockWait: (m) => this.logger.log(m) });
    this.logger.log(`CURRENT of the KB folder moved from ${previous ?? '(none)'} to ${manifest.version}`);
    return { current: manifest.version, previous };
  }
}
