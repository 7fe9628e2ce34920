// The Elasticsearch backend of the knowledge index, by concern:
// - mappings.ts: the indices of a KB version, their names, settings and mappings;
// - prepare-documents.ts: what is written for each node, example and document;
// - bulk.ts: bulk writes through the client's bulk helper (retries, drops);
// - publish.ts, publish-error.ts: building a version and making it live, and how that fails;
// - versions.ts: which version the aliases serve, the alias swap, pruning old versions;
// - search.ts: BM25 and kNN queries;
// - knowledge-index.ts: ElasticsearchKnowledgeIndex, the class composing them;
// - kb-documents.ts: the version's stored KB documents (manifest, embedder, full nodes...);
// - client.ts: a client for a URL, and opening a version for search.
export type { BulkPolicy } from './bulk';
export * from './client';
export * from './kb-documents';
export * from './knowledge-index';
export type { KnowledgeCollection, KnowledgeIndexNames, VectorCollection } from './mappings';
export type { PublishOptions, PublishResult } from './publish';
export { type DocumentFailure, KnowledgeIndexPublishError, type PublishStage } from './publish-error';
