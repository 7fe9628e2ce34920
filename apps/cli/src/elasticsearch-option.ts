import { type RetrievalIndex, elasticsearchSearchFor } from '@rescue/retrieval';
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

/** The search backend the options name: the KB version's Elasticsearch indices, or undefined for LanceDB. */
export function elasticsearchSearch(opts: ElasticsearchOptions): ((version: string) => Promise<RetrievalIndex>) | undefined {
  return opts.es ? elasticsearchSearchFor(opts.es, opts.esPrefix) : undefined;
}
