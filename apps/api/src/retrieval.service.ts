import { Inject, Injectable, ServiceUnavailableException } from '@nestjs/common';
import { classify } from '@rescue/domain';
import { type OfflineRetrieval, retrieveOffline } from '@rescue/generation';
import { KnowledgeBaseReader, type OpenedKb, llmEmbedderFor } from '@rescue/knowledge';
import { llmFromEnv } from '@rescue/llm';
import { Slicer } from '@rescue/slicing';
import type { ApiConfig } from './api.config';
import { API_CONFIG } from './api.tokens';
import type { RetrieveRequest } from './retrieve-request';

/**
 * Offline retrieval for upstream services: each request is answered by the KB version live when it
 * arrives (a republish is noticed within a second, no restart), and says which version that was.
 */
@Injectable()
export class RetrievalService {
  private reader?: KnowledgeBaseReader;
  private slicer?: Promise<Slicer>;

  constructor(@Inject(API_CONFIG) private readonly config: ApiConfig) {}

  private open(): Promise<OpenedKb> {
    const dir = this.config.RESCUE_KB_DIR;
    const esUrl = this.config.ELASTICSEARCH_URL;
    if (!dir && !esUrl) throw new ServiceUnavailableException('no KB configured: set RESCUE_KB_DIR to a folder built by `rescue kb build`, or ELASTICSEARCH_URL to a cluster it was published to');
    // A folder (searched on Elasticsearch when ELASTICSEARCH_URL is set), or Elasticsearch alone. A
    // failed open (folder not built yet, ES away) is retried by the next request.
    this.reader ??= new KnowledgeBaseReader({ dir, elasticsearchUrl: esUrl, elasticsearchPrefix: this.config.ELASTICSEARCH_PREFIX }, { embedderFor: llmEmbedderFor(llmFromEnv(this.config)) });
    return this.reader.live();
  }

  async retrieve(request: RetrieveRequest): Promise<OfflineRetrieval & { kbVersion: string }> {
    let kb: OpenedKb;
    try {
      kb = await this.open();
    } catch (err) {
      if (err instanceof ServiceUnavailableException) throw err;
      // To a client, a KB that cannot be opened (not built, none live, Elasticsearch away) is the
      // service being unavailable, whatever the cause's own kind: 503, and the next request retries.
      throw new ServiceUnavailableException(`the KB cannot be opened: ${classify(err).message}`);
    }
    this.slicer ??= Slicer.create();
    const guidance = { cwes: request.guidanceCwes, tokens: request.guidanceTokens };
    const result = await retrieveOffline(kb, await this.slicer, { id: request.id, language: request.language, prompt: request.prompt, kind: request.kind }, guidance);
    return { ...result, kbVersion: kb.manifest.version };
  }
}
