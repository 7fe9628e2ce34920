import type { Client, estypes } from '@elastic/elasticsearch';
import { InvalidInputError, NotFoundError, TransientUpstreamError } from '@rescue/domain';
import { type BulkPolicy, bulkIndex, bulkPolicyOf } from './bulk';

/**
 * What a KB version needs besides its search fields, so that Elasticsearch alone can serve it:
 * the manifest, the fitted embedder, the retrieval calibration, the KB's term counts and the full
 * node, example and knowledge documents (guidelines, sliced code, CodeQL help). Stored as opaque
 * JSON, never searched.
 */
export interface KbDocuments {
  manifest: unknown;
  /** The embedder's serialized model (a JSON string: the local LSA model is several MB). */
  embedder?: string;
  /** What `kb calibrate` fitted for this version. */
  calibration?: unknown;
  /**
   * The KB's term counts (term → count, for the relevance gate; about 1 MB), stored as JSON text.
   * They read back in the form given: an object as an equal object, a string (the file's JSON text)
   * as the same string. Passing the object avoids escaping the text a second time.
   */
  termCounts?: unknown;
  nodes: { id: string }[];
  examples: { id: string }[];
  /** The knowledge documents (CodeQL help, functional descriptions). */
  documents: { id: string }[];
}

type Kind = 'manifest' | 'embedder' | 'calibration' | 'term-counts' | 'node' | 'example' | 'document';

/** The kinds stored one document per kind, by a fixed `_id`. */
type Single = 'manifest' | 'embedder' | 'calibration' | 'term-counts';

/** The kinds stored one document per item, `_id` = `${kind}:${item id}`, read back page by page. */
type Paged = 'node' | 'example' | 'document';

interface StoredDocument {
  kind: Kind;
  /** Order of writing within a kind, for paging with search_after (sorting on _id is disabled in ES 8). */
  ord: number;
  body: unknown;
}

/** A body holding a JSON string: the embedder and the term counts. */
interface JsonBody {
  json: string;
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

/**
 * A large object stored as a JSON string in `body.json`, as the embedder is. The term counts' keys
 * are arbitrary terms, tens of thousands of them; inside a string ES sees one value, so no
 * field-name rule or mapping limit can ever refuse a term as a key, whatever `body`'s mapping
 * becomes, and the object reads back exactly as written.
 */
const jsonBody = (value: unknown): JsonBody => ({ json: JSON.stringify(value) });

function single(kind: Single, body: unknown): { id: string; doc: StoredDocument }[] {
  return body === undefined ? [] : [{ id: kind, doc: { kind, ord: 0, body } }];
}

function paged(kind: Paged, items: { id: string }[]): { id: string; doc: StoredDocument }[] {
  return items.map((item, i) => ({ id: `${kind}:${item.id}`, doc: { kind, ord: i, body: item } }));
}

/**
 * One index per KB version (`${prefix}-docs-${version}`) holding {@link KbDocuments}. It is
 * written before the version's search indices go live and deleted with them, so a reader that
 * finds a live version also finds its documents.
 */
export class ElasticsearchKbDocuments {
  private readonly bulk: Required<BulkPolicy>;

  /** @throws InvalidInputError for a bulk policy out of range. */
  constructor(
    private readonly client: Client,
    private readonly prefix: string,
    /** How {@link write} sends its bulk requests (the defaults of `bulkPolicyOf` when absent). */
    bulk?: BulkPolicy,
  ) {
    this.bulk = bulkPolicyOf(bulk);
  }

  indexOf(version: string): string {
    return `${this.prefix}-docs-${version}`;
  }

  /**
   * Writes (or rewrites) a version's documents through the client's bulk helper (see `bulkIndex`),
   * refreshes, and checks every one arrived.
   *
   * @throws TransientUpstreamError when documents were refused for load only (429 after the
   *   retries, 5xx) or the count disagrees; InvalidInputError when one was refused for its content.
   */
  async write(version: string, docs: KbDocuments): Promise<{ documents: number }> {
    const index = this.indexOf(version);
    const all: { id: string; doc: StoredDocument }[] = [
      ...single('manifest', docs.manifest),
      // The embedder is already a JSON string: stored as given, so it reads back byte for byte.
      ...single('embedder', docs.embedder === undefined ? undefined : { json: docs.embedder }),
      ...single('calibration', docs.calibration),
      ...single('term-counts', docs.termCounts === undefined ? undefined : jsonBody(docs.termCounts)),
      ...paged('node', docs.nodes),
      ...paged('example', docs.examples),
      ...paged('document', docs.documents),
    ];
    await this.client.indices.delete({ index, ignore_unavailable: true });
    await this.client.indices.create({ index, settings: { number_of_shards: 1, auto_expand_replicas: '0-1' }, mappings: MAPPING });
    const { dropped } = await bulkIndex(this.client, index, all, this.bulk);
    if (dropped.length > 0) {
      const [first] = dropped;
      const message = `Elasticsearch refused ${dropped.length} of ${all.length} KB documents of ${version} (first: ${first.id}: ${first.type} ${first.reason})`;
      // Refused for load (429 after the retries, 5xx): a rerun rewrites the index. Refused for content: it fails the same way again.
      throw dropped.every((d) => d.status === 429 || d.status >= 500) ? new TransientUpstreamError(message) : new InvalidInputError(message);
    }
    await this.client.indices.refresh({ index });
    const { count } = await this.client.count({ index });
    if (count !== all.length) throw new TransientUpstreamError(`wrote ${all.length} KB documents of ${version} to ${index} but it holds ${count}`);
    return { documents: all.length };
  }

  /** Reads a version's documents; says which index is missing and how to publish it. */
  async read(version: string): Promise<KbDocuments> {
    const index = this.indexOf(version);
    const one = async (id: Single): Promise<unknown> => {
      try {
        return ((await this.client.get<StoredDocument>({ index, id }))._source as StoredDocument).body;
      } catch (err) {
        if ((err as { meta?: { statusCode?: number } }).meta?.statusCode === 404) return undefined;
        throw err;
      }
    };
    const manifest = await one('manifest');
    if (manifest === undefined)
      throw new NotFoundError(`KB version ${version} has no documents in Elasticsearch (${index}); publish it with \`rescue kb build --es <url> --es-prefix ${this.prefix}\``);
    const embedder = jsonOf(await one('embedder'), 'embedder', index);
    const termCounts = jsonOf(await one('term-counts'), 'term-counts', index);
    return {
      manifest,
      embedder,
      calibration: await one('calibration'),
      termCounts: termCounts === undefined ? undefined : (JSON.parse(termCounts) as unknown),
      nodes: await this.all(index, 'node'),
      examples: await this.all(index, 'example'),
      documents: await this.all(index, 'document'),
    };
  }

  /** Replaces a version's stored calibration (what `kb calibrate` fits). */
  async writeCalibration(version: string, calibration: unknown): Promise<void> {
    const document: StoredDocument = { kind: 'calibration', ord: 0, body: calibration };
    await this.client.index({ index: this.indexOf(version), id: 'calibration', document, refresh: true });
  }

  /** Deletes the documents of versions whose search indices were pruned. */
  async delete(versions: string[]): Promise<void> {
    if (versions.length > 0) await this.client.indices.delete({ index: versions.map((v) => this.indexOf(v)), ignore_unavailable: true });
  }

  private async all(index: string, kind: Paged): Promise<{ id: string }[]> {
    const out: { id: string }[] = [];
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
      for (const h of hits) out.push((h._source as StoredDocument).body as { id: string });
      if (hits.length < PAGE) return out;
      after = hits[hits.length - 1].sort;
    }
  }
}

/** The JSON string of a stored {@link JsonBody}, or undefined when the document is absent; a malformed one is an error, not a missing one. */
function jsonOf(body: unknown, id: string, index: string): string | undefined {
  if (body === undefined) return undefined;
  if (typeof body === 'object' && body !== null && typeof (body as Partial<JsonBody>).json === 'string') return (body as JsonBody).json;
  throw new InvalidInputError(`the ${id} document in ${index} holds no JSON string; republish the version with \`rescue kb build --es\``);
}
