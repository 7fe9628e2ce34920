import type { Client } from '@elastic/elasticsearch';
import { NotFoundError, TransientUpstreamError } from '@rescue/domain';
import { elasticModule } from './elastic-module';
import { ElasticsearchKnowledgeIndex } from './knowledge-index';

/** The URL without user and password, for messages. */
export function urlForMessages(url: string): string {
  if (!URL.canParse(url)) return '(an Elasticsearch address that is not a URL)';
  const u = new URL(url);
  u.username = '';
  u.password = '';
  return u.toString().replace(/\/$/, '');
}

/** A client for reading a KB: one retry and a bounded wait, so a command or a job fails in seconds when the cluster is away. */
export function elasticsearchClient(url: string): Client {
  return new (elasticModule().Client)({ node: url, maxRetries: 1, requestTimeout: 30_000 });
}

/**
 * Opens a KB version's own Elasticsearch indices for searching (not the live aliases, so the
 * documents read from the KB folder and the ones searched are the same version), after checking
 * that its three indices (nodes, examples, documents) exist. Errors name the cluster without
 * credentials and say what to do.
 */
export function elasticsearchSearchFor(url: string, prefix: string, client = elasticsearchClient(url)): (version: string) => Promise<ElasticsearchKnowledgeIndex> {
  return async (version) => {
    const index = new ElasticsearchKnowledgeIndex(client, { prefix, version });
    const names = index.indicesOf(version);
    const all = [names.nodes, names.examples, names.documents];
    let exists: boolean;
    try {
      // One HEAD for all three: explicit names without `ignore_unavailable` answer 404 when any is missing.
      exists = await client.indices.exists({ index: all, allow_no_indices: false });
    } catch (err) {
      throw new TransientUpstreamError(`Elasticsearch at ${urlForMessages(url)} did not answer (${(err as Error).message}); check the address, or search the KB folder instead`, { cause: err });
    }
    if (!exists)
      throw new NotFoundError(
        `KB version ${version} is not in Elasticsearch at ${urlForMessages(url)} under prefix "${prefix}" (${all.join(', ')}); publish it with \`rescue kb build --es ${urlForMessages(url)} --es-prefix ${prefix}\``,
      );
    return index;
  };
}
