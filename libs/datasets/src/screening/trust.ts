import { resolve, sep } from 'node:path';
import type { SourceTrust } from '@rescue/domain';

/**
 * Which sources the operator vouches for, by path (a file, or a folder covering everything under
 * it). The most specific path that covers a source decides; on a tie, distrust wins.
 */
export interface TrustSettings {
  trusted: string[];
  untrusted: string[];
}

/** What kind of source a path is, which sets its trust when no setting names it. */
export type SourceKind = 'fix-pairs' | 'codeql' | 'cwe-catalog';

/**
 * Defaults: fix-pair datasets are untrusted, CodeQL checkouts and the CWE catalogue trusted.
 *
 * - Fix-pair datasets, public ones included, are mined from commits to thousands of repositories:
 *   their commit messages, descriptions and comments were written by whoever landed a commit, and
 *   a user's own folder is whatever was put in it. Nothing vouches for them.
 * - CodeQL's query help and MITRE's catalogue are edited, reviewed references, and their
 *   recommendations and mitigations are what offline guidelines are made of; an operator who
 *   builds from a fork or an unofficial copy marks it `--untrusted-source`.
 *
 * Trust never skips the screen: a trusted source's suspicious item is quarantined like any other.
 */
export const DEFAULT_TRUST: Record<SourceKind, SourceTrust> = { 'fix-pairs': 'untrusted', codeql: 'trusted', 'cwe-catalog': 'trusted' };

export const NO_TRUST_SETTINGS: TrustSettings = { trusted: [], untrusted: [] };

const covers = (root: string, path: string): boolean => path === root || path.startsWith(root.endsWith(sep) ? root : `${root}${sep}`);

/** The trust of the source at `path` (any file or folder inside a source counts as that source). */
export function trustOf(path: string, kind: SourceKind, settings: TrustSettings = NO_TRUST_SETTINGS): SourceTrust {
  const abs = resolve(path);
  let best: { length: number; trust: SourceTrust } | undefined;
  const consider = (roots: string[], trust: SourceTrust): void => {
    for (const r of roots) {
      const root = resolve(r);
      if (!covers(root, abs)) continue;
      if (!best || root.length > best.length || (root.length === best.length && trust === 'untrusted')) best = { length: root.length, trust };
    }
  };
  consider(settings.trusted, 'trusted');
  consider(settings.untrusted, 'untrusted');
  return best?.trust ?? DEFAULT_TRUST[kind];
}
