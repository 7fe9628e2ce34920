import { Client } from '@elastic/elasticsearch';
import { ElasticsearchKnowledgeIndex, type RetrievalIndex } from '@rescue/retrieval';
import type { Command } from 'commander';

export interface ElasticsearchOptions {
  es?: string;
  esPrefix: string;
}

/** `--es <url>` and `--es-prefix`: run a command's searches on Elasticsearch instead of the KB folder's LanceDB. */
export function addElasticsearchOptions(command: Command): Command {
  return command
    .option('--es <url>', 'search on Elasticsearch (the KB version published there by `kb build --es`); documents and embedder still come from --kb')
    .option('--es-prefix <prefix>', 'Elasticsearch index and alias prefix', 'rescue');
}

/** The URL without user and password, for messages. */
function shown(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.toString().replace(/\/$/, '');
  } catch {
    return '(the --es value, which is not a URL)';
  }
}

/**
 * The search backend for a KB version: its own Elasticsearch indices (not the live alias, so the
 * folder's documents and the searched ones are the same version), checked to exist before any
 * search; or undefined for LanceDB.
 */
export function elasticsearchSearch(opts: ElasticsearchOptions): ((version: string) => Promise<RetrievalIndex>) | undefined {
  if (!opts.es) return undefined;
  const url = opts.es;
  // One retry, short timeouts: a CLI run should fail in seconds when the cluster is away.
  const client = new Client({ node: url, maxRetries: 1, requestTimeout: 30_000 });
  return async (version) => {
    const index = new ElasticsearchKnowledgeIndex(client, { prefix: opts.esPrefix, version });
    const names = index.indicesOf(version);
    let exists: boolean;
    try {
      exists = await client.indices.exists({ index: [names.nodes, names.examples], allow_no_indices: false });
    } catch (err) {
      throw new Error(`Elasticsearch at ${shown(url)} did not answer (${(err as Error).message}); check --es, or leave it out to search the KB folder`);
    }
    if (!exists) throw new Error(`KB version ${version} is not in Elasticsearch at ${shown(url)} under prefix "${opts.esPrefix}" (${names.nodes}, ${names.examples}); publish it with \`rescue kb build --es ${shown(url)} --es-prefix ${opts.esPrefix}\``);
    return index;
  };
}
