import type { IndexedDocument, IndexedExample, IndexedNode } from '../knowledge-index';
import type { KnowledgeCollection } from './mappings';
import type { DocumentFailure } from './publish-error';

// What a publish sends: each node, example and knowledge document checked and turned into the JSON
// body its collection's mapping (mappings.ts) expects.

/** One document ready to send: its `_id` and its JSON body. */
export interface PreparedDocument {
  id: string;
  doc: Record<string, unknown>;
}

/** A collection's documents ready to send, and the ones refused before sending. */
export interface Prepared {
  docs: PreparedDocument[];
  /** Documents whose vector was all zeros, sent without it. */
  withoutVector: number;
  failures: DocumentFailure[];
}

export const isZero = (v: Float32Array): boolean => v.every((x) => x === 0);

/**
 * Checks one vector and converts it for JSON. An all-zero vector has no direction, so cosine is
 * undefined and Elasticsearch rejects the document; such a document is stored without its vector
 * field, which also keeps it out of every kNN search (kNN only visits documents that have the field),
 * the way the embedded backend never returns it.
 */
function vectorField(v: Float32Array, dims: number): { ok: true; value?: number[] } | { ok: false; reason: string } {
  if (v.length !== dims) return { ok: false, reason: `vector has ${v.length} dimensions, the mapping has ${dims}` };
  if (!v.every(Number.isFinite)) return { ok: false, reason: 'vector holds NaN or Infinity' };
  return { ok: true, value: isZero(v) ? undefined : Array.from(v) };
}

/** A term field only when it has terms: the language-specific nodes have no `doc_terms` nor `catalog_terms`. */
const terms = (field: string, value: string | undefined): Record<string, string> => (value ? { [field]: value } : {});

export function nodeDocument(n: IndexedNode, vector: number[] | undefined): Record<string, unknown> {
  return {
    id: n.id,
    cwe: n.cwe,
    // '' marks a language-neutral node; always written, so the `neutral` filter is one term query.
    language: n.language ?? '',
    text: n.text,
    api_text: n.apiText,
    ...terms('doc_terms', n.docTerms),
    ...terms('catalog_terms', n.catalogTerms),
    ...(vector ? { cause_vector: vector } : {}),
  };
}

export function exampleDocument(e: IndexedExample, vector: number[] | undefined): Record<string, unknown> {
  return {
    id: e.id,
    node_id: e.nodeId,
    cwe: e.cwe,
    language: e.language,
    // As in the embedded backend: an example without a kind is a fix pair.
    kind: e.kind ?? 'fix',
    api_text: e.apiText,
    ...terms('code_text', e.codeText),
    ...(vector ? { code_vector: vector } : {}),
  };
}

export function documentDocument(d: IndexedDocument): Record<string, unknown> {
  return { id: d.id, kind: d.kind, cwes: d.cwes, language: d.language ?? '', terms: d.terms };
}

/**
 * Checks every item of a collection (a non-empty, unique id; a vector of the mapping's length with
 * finite values) and converts the good ones; a refused item is listed, not sent.
 */
export function prepare<T extends { id: string }>(
  collection: KnowledgeCollection,
  items: T[],
  vector: { of: (item: T) => Float32Array; dims: number } | undefined,
  toDoc: (item: T, vector: number[] | undefined) => Record<string, unknown>,
): Prepared {
  const out: Prepared = { docs: [], withoutVector: 0, failures: [] };
  const seen = new Set<string>();
  for (const item of items) {
    const fail = (reason: string): void => {
      out.failures.push({ collection, id: item.id, type: 'invalid_document', reason });
    };
    if (!item.id) {
      fail('empty id');
      continue;
    }
    // The `_id` is the document id, so a duplicate would silently overwrite and fail the count check later.
    if (seen.has(item.id)) {
      fail('duplicate id');
      continue;
    }
    seen.add(item.id);
    let value: number[] | undefined;
    if (vector) {
      const checked = vectorField(vector.of(item), vector.dims);
      if (!checked.ok) {
        fail(checked.reason);
        continue;
      }
      if (!checked.value) out.withoutVector += 1;
      value = checked.value;
    }
    out.docs.push({ id: item.id, doc: toDoc(item, value) });
  }
  return out;
}
