/**
 * The Elasticsearch client library, loaded on first use: it takes a fifth of a second to load,
 * and most runs (every search of a KB folder) never talk to a cluster.
 */
export function elasticModule(): typeof import('@elastic/elasticsearch') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('@elastic/elasticsearch') as typeof import('@elastic/elasticsearch');
}
