/**
 * The build options the pipeline specs share (not a test file itself: jest only runs *.spec.ts and
 * *.int-spec.ts): no catalogue, clusters by language and CWE, no catalogue-only nodes, h = 2,
 * lines up to 1 MB. Each spec adds its sources, KB folder, embedder and distiller.
 */
import type { CweEntry } from '@rescue/datasets';
import type { CweId } from '@rescue/domain';

export const SMALL_BUILD = { catalog: new Map<CweId, CweEntry>(), clusterBy: 'language-cwe', catalogOnlyNodes: false, hops: 2, maxLineBytes: 1 << 20 } as const;
