/**
 * A one-node KB version for the KB folder specs (not a test file itself: jest only runs *.spec.ts
 * and *.int-spec.ts): the content a publish writes, with `guideline` as its node's only guideline,
 * so two calls with different guidelines make two versions.
 */
import type { CweNode, KbVersionContent } from '@rescue/knowledge';

export function oneNodeVersion(guideline: string): KbVersionContent {
  const node: CweNode = {
    id: 'python:CWE-89',
    cwe: 'CWE-89',
    language: 'python',
    parents: [],
    guidelines: [guideline],
    cause: 'string-built SQL',
    apiNames: ['execute'],
    exampleIds: [],
    provenance: { mode: 'catalog-only' },
  };
  return {
    manifest: {
      clusterBy: 'language-cwe',
      counts: { nodes: 1, catalogOnlyNodes: 0, examples: 0, records: 0 },
      embedder: { id: 'test' },
      distillation: { mode: 'extractive', llmCalls: 0, llmCallsCached: 0 },
      slicer: { version: 'pdg-1', hops: 2 },
      searchTerms: 1,
    },
    nodes: [node],
    examples: [],
  };
}
