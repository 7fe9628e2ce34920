import { type CweEntry, readCweCatalog } from '@rescue/datasets';
import type { CweId } from '@rescue/domain';
import { type ExtraKnowledge, type KnowledgeDocument, genericMitigations, readExtraKnowledge, sourceDocuments } from '@rescue/knowledge';
import { Slicer } from '@rescue/slicing';

/**
 * What every stage of one KB build reads besides its own records: the catalogue, the knowledge
 * beyond fix pairs (CodeQL help and examples, the catalogue's examples), and what follows from
 * them alone. The same for every job of a build, so it is worked out once per build (inline) or
 * once per process and build sources (workers).
 */
export interface BuildKnowledge {
  catalog: Map<CweId, CweEntry>;
  extra: ExtraKnowledge;
  /** The documents that do not depend on the clusters (CodeQL help, descriptions). */
  documents: KnowledgeDocument[];
  /** Whether a sentence is catalogue boilerplate (a mitigation many entries share). */
  isGeneric: (sentence: string) => boolean;
}

/** A build's knowledge from its catalogue and extra knowledge, what follows from them worked out once. */
export function knowledgeFrom(catalog: Map<CweId, CweEntry>, extra: ExtraKnowledge): BuildKnowledge {
  return { catalog, extra, documents: sourceDocuments(extra, catalog), isGeneric: genericMitigations(catalog.values()) };
}

const catalogs = new Map<string, Promise<Map<CweId, CweEntry>>>();
const knowledge = new Map<string, Promise<BuildKnowledge>>();

/** The catalogue at a path, read once per process (a failed read is forgotten, so a retry reads again). */
export function catalogAt(path: string | undefined): Promise<Map<CweId, CweEntry>> {
  if (!path) return Promise.resolve(new Map());
  let found = catalogs.get(path);
  if (!found) {
    found = readCweCatalog(path);
    catalogs.set(path, found);
    found.catch(() => catalogs.delete(path));
  }
  return found;
}

/**
 * A build spec's knowledge, read once per process: the queue runner's ingest, summarize and index
 * workers each need it, and it is the same for every job of a build.
 */
export function knowledgeOfBuild(build: { codeqlRoots?: string[]; catalogPath?: string }): Promise<BuildKnowledge> {
  const codeqlRoots = [...(build.codeqlRoots ?? [])].sort();
  const key = JSON.stringify([codeqlRoots, build.catalogPath ?? '']);
  let found = knowledge.get(key);
  if (!found) {
    found = (async () => {
      const catalog = await catalogAt(build.catalogPath);
      const extra = await readExtraKnowledge({ codeqlRoots, catalog, catalogPath: build.catalogPath, splitter: await Slicer.create() });
      return knowledgeFrom(catalog, extra);
    })();
    knowledge.set(key, found);
    found.catch(() => knowledge.delete(key));
  }
  return found;
}
