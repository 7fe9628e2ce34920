import type { Client, estypes } from '@elastic/elasticsearch';
import { elasticModule } from './elastic-module';
import { aliasNames, COLLECTIONS, type KnowledgeCollection, type KnowledgeIndexNames, perCollection, versionIndexNames, versionOfIndex } from './mappings';

/** Aliases' current indices; normally one each, but an alias edited by hand can hold several. */
export type AliasTargets = Record<KnowledgeCollection, string[]>;

const isNotFound = (err: unknown): boolean => err instanceof elasticModule().errors.ResponseError && err.statusCode === 404;

/**
 * The KB versions of one prefix in a cluster: which one the aliases serve, moving the aliases to
 * another at once, deleting old versions, counting a version's documents. A version is three
 * indices (`versionIndexNames`); the aliases are `aliasNames`.
 */
export class KbVersions {
  readonly aliases: KnowledgeIndexNames;

  constructor(
    private readonly client: Client,
    readonly prefix: string,
  ) {
    this.aliases = aliasNames(prefix);
  }

  /** The concrete index names of a KB version. */
  indicesOf(version: string): KnowledgeIndexNames {
    return versionIndexNames(this.prefix, version);
  }

  /** The version the aliases point at, or undefined before the first publish. */
  async liveVersion(): Promise<string | undefined> {
    return this.versionOfTargets(await this.aliasTargets());
  }

  /** The version read off alias targets (the nodes alias decides), or undefined when it points at none or several. */
  versionOfTargets(targets: AliasTargets): string | undefined {
    return targets.nodes.length === 1 ? versionOfIndex(this.prefix, targets.nodes[0]) : undefined;
  }

  async aliasTargets(): Promise<AliasTargets> {
    const targets = await Promise.all(COLLECTIONS.map((c) => this.indicesBehind(this.aliases[c])));
    return perCollection((c) => targets[COLLECTIONS.indexOf(c)]);
  }

  /** Documents in each of three indices (or aliases). */
  async counts(names: KnowledgeIndexNames): Promise<Record<KnowledgeCollection, number>> {
    const counts = await Promise.all(COLLECTIONS.map((c) => this.client.count({ index: names[c] })));
    return perCollection((c) => counts[COLLECTIONS.indexOf(c)].count);
  }

  /**
   * Moves the three aliases to `names` in one `_aliases` request (atomic: readers see the old
   * version or the new one). Each alias is removed from exactly the indices it was read on: a
   * remove of a missing alias fails the whole request.
   */
  async swap(previous: AliasTargets, names: KnowledgeIndexNames): Promise<void> {
    const actions: estypes.IndicesUpdateAliasesAction[] = [
      ...COLLECTIONS.flatMap((c) => previous[c].map((index) => ({ remove: { index, alias: this.aliases[c] } }))),
      ...COLLECTIONS.map((c) => ({ add: { index: names[c], alias: this.aliases[c] } })),
    ];
    await this.client.indices.updateAliases({ actions });
  }

  /**
   * What a swap that threw actually did. A 4xx answer means ES refused the atomic `_aliases` request
   * as a whole. Without an answer (timeout, reset) or with a 5xx (a master task can still be queued)
   * it may have been applied, so read the aliases back. If the new indices are deleted after that
   * read, a late swap fails as a whole too, since its `add` names a missing index.
   */
  async swapOutcome(err: unknown, names: KnowledgeIndexNames): Promise<'applied' | 'refused' | 'unknown'> {
    if (err instanceof elasticModule().errors.ResponseError && err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) return 'refused';
    try {
      const now = await this.aliasTargets();
      return COLLECTIONS.every((c) => now[c].length === 1 && now[c][0] === names[c]) ? 'applied' : 'refused';
    } catch (_readBackError) {
      // Whatever stopped the read-back, the outcome is unknown; the caller rethrows the swap's own error.
      return 'unknown';
    }
  }

  /** Deletes versions beyond the newest `keep` (by creation time of their indices), never `live`; returns the deleted versions. */
  async prune(keep: number, live: string): Promise<string[]> {
    // A version published before the documents collection existed has no documents index; the wildcard matches none then.
    const settings = await this.client.indices.getSettings({ index: COLLECTIONS.map((c) => `${this.prefix}-${c}-*`), name: 'index.creation_date' });
    const versions = new Map<string, { created: number; indices: string[] }>();
    for (const [index, state] of Object.entries(settings)) {
      const version = versionOfIndex(this.prefix, index);
      if (version === undefined) continue;
      const created = Number(state.settings?.index?.creation_date ?? 0);
      const entry = versions.get(version) ?? { created: 0, indices: [] };
      entry.created = Math.max(entry.created, created);
      entry.indices.push(index);
      versions.set(version, entry);
    }
    const doomed = [...versions.entries()]
      .sort((a, b) => b[1].created - a[1].created || (a[0] < b[0] ? 1 : -1))
      .slice(keep)
      .filter(([version]) => version !== live);
    if (doomed.length === 0) return [];
    // Explicit names: `action.destructive_requires_name` (default true in 8.x) refuses wildcard deletes.
    await this.client.indices.delete({ index: doomed.flatMap(([, v]) => v.indices.sort()) });
    return doomed.map(([version]) => version);
  }

  private async indicesBehind(alias: string): Promise<string[]> {
    try {
      return Object.keys(await this.client.indices.getAlias({ name: alias })).sort();
    } catch (err) {
      // No alias yet: the first publish (or, for documents, the first since the collection was added).
      if (isNotFound(err)) return [];
      throw err;
    }
  }
}
