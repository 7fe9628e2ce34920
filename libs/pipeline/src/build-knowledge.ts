import { type CweEntry, NO_TRUST_SETTINGS, readCweCatalog, trustOf } from '@rescue/datasets';
import type { CweId, SourceTrust } from '@rescue/domain';
import {
  type ExtraKnowledge,
  type KnowledgeDocument,
  type QuarantineEntry,
  type ScreenMemo,
  type ScreenPolicy,
  contentKey,
  genericMitigations,
  openScreenMemo,
  readExtraKnowledge,
  screenCatalog,
  screenCodeqlAdvice,
  screenVulnerableExamples,
  sourceDocuments,
  sourceTrust,
} from '@rescue/knowledge';
import { Slicer } from '@rescue/slicing';

/**
 * What every stage of one KB build reads besides its own records: the catalogue, the knowledge
 * beyond fix pairs (CodeQL help and examples, the catalogue's examples), and what follows from
 * them alone. The same for every job of a build, so it is worked out once per build (inline) or
 * once per process and build sources (workers).
 */
export interface BuildKnowledge {
  /** The catalogue, with any passage the screen held back left out. */
  catalog: Map<CweId, CweEntry>;
  /** The catalogue's trust: an untrusted catalogue's text is never quoted into guidelines or causes. */
  catalogTrust: SourceTrust;
  /** The extra knowledge after the screen: held-back vulnerable-only examples and CodeQL recommendations left out. */
  extra: ExtraKnowledge;
  /** The documents that do not depend on the clusters (CodeQL help, descriptions), each with its source's trust. */
  documents: KnowledgeDocument[];
  /** Whether a sentence is catalogue boilerplate (a mitigation many entries share). */
  isGeneric: (sentence: string) => boolean;
  /** Who is trusted and what was released, for the ingest and distillation screens. */
  screen: ScreenPolicy;
  /** What the screen held back of the catalogue and the extra knowledge (records are screened at ingest, with the datasets'). */
  quarantined: QuarantineEntry[];
  /**
   * A hash of the screened catalogue and its trust: what a cluster's summary depends on beyond its
   * own entry (which sentences are boilerplate is decided over the whole catalogue).
   */
  catalogDigest: string;
}

/** The screen a build spec asks for: its trust settings and released ids (and the KB folder's memo of verdicts, when given). */
export function screenPolicyOf(build: { trust?: { trusted: string[]; untrusted: string[] }; releasedIds?: string[]; codeqlRoots?: string[] }, memo?: ScreenMemo): ScreenPolicy {
  return { trust: build.trust ?? NO_TRUST_SETTINGS, released: new Set(build.releasedIds ?? []), codeqlRoots: [...(build.codeqlRoots ?? [])].sort(), ...(memo ? { memo } : {}) };
}

/**
 * A build's knowledge from its catalogue and extra knowledge, screened (what fails the screen is
 * left out and listed, unless released), with what follows from them worked out once.
 */
export function knowledgeFrom(catalog: Map<CweId, CweEntry>, extra: ExtraKnowledge, options: { catalogPath?: string; screen?: ScreenPolicy } = {}): BuildKnowledge {
  const screen = options.screen ?? screenPolicyOf({});
  const screenedCatalog = screenCatalog(catalog, options.catalogPath, screen);
  const advice = screenCodeqlAdvice(extra.helps, screen);
  const vulnerable = screenVulnerableExamples(extra.vulnerableOnly, screen);
  const screened: ExtraKnowledge = { ...extra, helps: advice.helps, vulnerableOnly: vulnerable.admitted };
  const documents = sourceDocuments(screened, screenedCatalog.catalog).map((d) => (d.kind === 'codeql-help' ? { ...d, trust: sourceTrust(d.source, 'codeql', screen.trust, screen.codeqlRoots) } : d));
  const catalogTrust = trustOf(options.catalogPath ?? 'catalogue', 'cwe-catalog', screen.trust);
  return {
    catalog: screenedCatalog.catalog,
    catalogTrust,
    extra: screened,
    documents,
    isGeneric: genericMitigations(screenedCatalog.catalog.values()),
    screen,
    quarantined: [...screenedCatalog.entries, ...advice.entries, ...vulnerable.entries],
    catalogDigest: contentKey([catalogTrust, [...screenedCatalog.catalog]]),
  };
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
 * workers each need it, and it is the same for every job of a build. With the spec's KB folder,
 * its screen verdicts are remembered there between builds (the ingest stage saves them).
 */
export function knowledgeOfBuild(build: {
  codeqlRoots?: string[];
  catalogPath?: string;
  trust?: { trusted: string[]; untrusted: string[] };
  releasedIds?: string[];
  kbDir?: string;
}): Promise<BuildKnowledge> {
  const codeqlRoots = [...(build.codeqlRoots ?? [])].sort();
  // Trust and releases change what the screen lets through, so they are part of what is cached;
  // the KB folder holds the memo of verdicts.
  const key = JSON.stringify([codeqlRoots, build.catalogPath ?? '', build.trust ?? null, [...(build.releasedIds ?? [])].sort(), build.kbDir ?? '']);
  let found = knowledge.get(key);
  if (!found) {
    found = (async () => {
      const catalog = await catalogAt(build.catalogPath);
      const extra = await readExtraKnowledge({ codeqlRoots, catalog, catalogPath: build.catalogPath, splitter: await Slicer.create() });
      const memo = build.kbDir ? await openScreenMemo(build.kbDir) : undefined;
      return knowledgeFrom(catalog, extra, { catalogPath: build.catalogPath, screen: screenPolicyOf(build, memo) });
    })();
    knowledge.set(key, found);
    found.catch(() => knowledge.delete(key));
  }
  return found;
}
