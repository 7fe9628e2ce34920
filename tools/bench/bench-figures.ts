import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readCweCatalog } from '@rescue/datasets';
import { localEmbedder } from '@rescue/knowledge';

/** One measured figure as `npm run bench` collects it: beside its same-run baseline, with the goal it is held to. */
export interface Figure {
  name: string;
  value: number;
  unit: string;
  baseline?: { name: string; value: number };
  goal?: string;
}

/** Every .jsonl file under a folder, in a stable order (the benches read the same data each run). */
export const jsonlFiles = (dir: string): string[] =>
  readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const p = join(dir, name);
      return statSync(p).isDirectory() ? jsonlFiles(p) : p.endsWith('.jsonl') ? [p] : [];
    });

/**
 * The embedded build the build benchmarks run over the shared data (language × CWE clusters,
 * catalogue-only nodes, h = 2, the local embedder, the extractive distiller), so that their
 * figures measure the same build.
 */
export const EMBEDDED_BUILD = { clusterBy: 'language-cwe', catalogOnlyNodes: true, hops: 2, maxLineBytes: 8 << 20, embedder: localEmbedder } as const;

/** The catalogue the build benchmarks build with (the shared CWE-1000 CSV), and its path for the manifest. */
export async function sharedCatalog(shared: string): Promise<{ catalog: Awaited<ReturnType<typeof readCweCatalog>>; catalogPath: string }> {
  const catalogPath = join(shared, 'cwe', 'cwe-1000-research-view.csv');
  return { catalog: await readCweCatalog(catalogPath), catalogPath };
}
