import type { Client, estypes } from '@elastic/elasticsearch';

/**
 * What a KB version needs besides its search fields, so that Elasticsearch alone can serve it:
 * the manifest, the fitted embedder, the retrieval thresholds and the full node and example
 * documents (guidelines, sliced code). Stored as opaque JSON, never searched.
 */
export interface KbDocuments {
  manifest: unknown;
  /** The embedder's serialized model (a JSON string: the local LSA model is several MB). */
  embedder?: string;
  thresholds?: unknown;
  nodes: { id: string }[];
  examples: { id: string }[];
}

type Kind = 'manifest' | 'embedder' | 'thresholds' | 'node' | 'example';

interface StoredDocument {
  kind: Kind;
  /** Order of writing within a kind, for paging with search_after (sorting on _id is disabled in ES 8). */
  ord: number;
  body: unknown;
}

const MAPPING: estypes.MappingTypeMapping = {
  dynamic: 'strict',
  properties: {
    kind: { type: 'keyword' },
    ord: { type: 'long' },
    // Kept in _source only: nothing in a document is searched, so nothing in it is indexed.
    body: { type: 'object', enabled: false },
  },
};

const PAGE = 1000;
const BATCH = 500;

/**
 * One index per KB version (`${prefix}-docs-${version}`) holding {@link KbDocuments}. It is
 * written before the version's search indices go live and deleted with them, so a reader that
 * finds a live version also finds its documents.
 */
export class ElasticsearchKbDocuments {
  constructor(private readonly client: Client, private readonly prefix: string) {}

  indexOf(version: string): string {
    return `${this.prefix}-docs-${version}`;
  }

  /** Writes (or rewrites) a version's documents, refreshes, and checks every one arrived. */
  async write(version: string, docs: KbDocuments): Promise<{ documents: number }> {
    const index = this.indexOf(version);
    const all: { id: string; doc: StoredDocument }[] = [
      { id: 'manifest', doc: { kind: 'manifest', ord: 0, body: docs.manifest } },
      ...(docs.embedder !== undefined ? [{ id: 'embedder', doc: { kind: 'embedder' as const, ord: 0, body: { json: docs.embedder } } }] : []),
      ...(docs.thresholds !== undefined ? [{ id: 'thresholds', doc: { kind: 'thresholds' as const, ord: 0, body: docs.thresholds } }] : []),
      ...docs.nodes.map((n, i) => ({ id: `node:${n.id}`, doc: { kind: 'node' as const, ord: i, body: n } })),
      ...docs.examples.map((e, i) => ({ id: `example:${e.id}`, doc: { kind: 'example' as const, ord: i, body: e } })),
    ];
    await this.client.indices.delete({ index, ignore_unavailable: true });
    await this.client.indices.create({ index, settings: { number_of_shards: 1, auto_expand_replicas: '0-1' }, mappings: MAPPING });
    for (let i = 0; i < all.length; i += BATCH) {
      const batch = all.slice(i, i + BATCH);
      const response = await this.client.bulk({ index, operations: batch.flatMap((d) => [{ index: { _id: d.id } }, d.doc]) });
      if (response.errors) {
        const failed = response.items.map((item) => item.index).filter((r) => r?.error);
        throw new Error(`Elasticsearch refused ${failed.length} of ${batch.length} KB documents of ${version} (first: ${failed[0]?._id}: ${failed[0]?.error?.type} ${failed[0]?.error?.reason ?? ''})`);
      }
    }
    await this.client.indices.refresh({ index });
    const { count } = await this.client.count({ index });
    if (count !== all.length) throw new Error(`wrote ${all.length} KB documents of ${version} to ${index} but it holds ${count}`);
    return { documents: all.length };
  }

  /** Reads a version's documents; says which index is missing and how to publish it. */
  async read(version: string): Promise<KbDocuments> {
    const index = this.indexOf(version);
    const one = async (id: string): Promise<unknown> => {
      try {
        return ((await this.client.get<StoredDocument>({ index, id }))._source as StoredDocument).body;
      } catch (err) {
        if ((err as { meta?: { statusCode?: number } }).meta?.statusCode === 404) return undefined;
        throw err;
      }
    };
    const manifest = await one('manifest');
    if (manifest === undefined) throw new Error(`KB version ${version} has no documents in Elasticsearch (${index}); publish it with \`rescue kb build --es <url> --es-prefix ${this.prefix}\``);
    const embedder = (await one('embedder')) as { json?: string } | undefined;
    return { manifest, embedder: embedder?.json, thresholds: await one('thresholds'), nodes: (await this.all(index, 'node')) as { id: string }[], examples: (await this.all(index, 'example')) as { id: string }[] };
  }

  /** Replaces a version's stored thresholds (what `kb calibrate` fits). */
  async writeThresholds(version: string, thresholds: unknown): Promise<void> {
    await this.client.index({ index: this.indexOf(version), id: 'thresholds', document: { kind: 'thresholds', ord: 0, body: thresholds }, refresh: true });
  }

  /** Deletes the documents of versions whose search indices were pruned. */
  async delete(versions: string[]): Promise<void> {
    if (versions.length > 0) await this.client.indices.delete({ index: versions.map((v) => this.indexOf(v)), ignore_unavailable: true });
  }

  private async all(index: string, kind: Kind): Promise<unknown[]> {
    const out: unknown[] = [];
    let after: estypes.SortResults | undefined;
    for (;;) {
      const response = await this.client.search<StoredDocument>({
        index,
        size: PAGE,
        track_total_hits: false,
        query: { term: { kind } },
        sort: [{ ord: 'asc' }],
        ...(after ? { search_after: after } : {}),
      });
      const hits = response.hits.hits;
      for (const h of hits) out.push((h._source as StoredDocument).body);
      if (hits.length < PAGE) return out;
      after = hits[hits.length - 1].sort;
    }
  }
}
