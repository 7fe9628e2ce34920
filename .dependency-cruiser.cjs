/**
 * The import direction of the monorepo (docs/architecture.md):
 *   apps → libs; libs never import apps; apps never import other apps;
 *   each library imports only the libraries on its floor (FLOORS below);
 *   libs/testing is for tests only.
 * libs/pipeline/test/dependency-rules.spec.ts plants a violation of every rule and checks it fires.
 */

/**
 * What each library's own code may import of ours, besides itself. Domain libraries know nothing
 * of queues: contracts (payloads), queue and pipeline sit above them, and only pipeline (the
 * stages, the stores, both runners) and the apps join the two worlds.
 */
const FLOORS = {
  domain: [],
  config: ['domain'],
  contracts: ['domain'],
  datasets: ['domain'],
  slicing: ['domain'],
  llm: ['config', 'domain'],
  retrieval: ['llm', 'config', 'domain'],
  knowledge: ['datasets', 'slicing', 'retrieval', 'llm', 'domain'],
  generation: ['knowledge', 'retrieval', 'slicing', 'llm', 'datasets', 'domain'],
  evaluation: ['knowledge', 'retrieval', 'datasets', 'domain'],
  queue: ['contracts', 'domain'],
  pipeline: ['generation', 'knowledge', 'retrieval', 'slicing', 'llm', 'datasets', 'queue', 'contracts', 'config', 'domain'],
  testing: ['config', 'domain'],
  // Metrics, logs, health and shutdown for every app; knows no domain.
  observability: [],
};

// Tests are consumers, not layers: a library's tests may build their fixtures with any library
// (the KB reader's tests publish KBs with the inline runner). The floors bind the library's code.
const TESTS = ['\\.(int-|e2e-)?spec\\.ts$', '/test/'];

const floorRule = (lib, allowed) => ({
  name: allowed.length === 0 ? `${lib}-imports-nothing-of-ours` : `${lib}-imports-only-${allowed.join('-')}`,
  comment: `libs/${lib} may import ${allowed.length === 0 ? 'nothing of ours' : allowed.map((l) => `libs/${l}`).join(', ')}`,
  severity: 'error',
  from: { path: `^libs/${lib}/`, pathNot: TESTS },
  to: { path: '^(libs|apps)/', pathNot: `^libs/(${[lib, ...allowed].join('|')})/` },
});

module.exports = {
  forbidden: [
    {
      name: 'libs-never-import-apps',
      severity: 'error',
      from: { path: '^libs/' },
      to: { path: '^apps/' },
    },
    {
      name: 'apps-never-import-apps',
      severity: 'error',
      from: { path: '^apps/([^/]+)/' },
      to: { path: '^apps/', pathNot: '^apps/$1/' },
    },
    ...Object.entries(FLOORS).map(([lib, allowed]) => floorRule(lib, allowed)),
    {
      name: 'testing-lib-only-in-tests',
      severity: 'error',
      from: { path: '^(apps|libs)/', pathNot: [...TESTS, '^libs/testing/'] },
      to: { path: '^libs/testing/' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    // The dependency-rules test plants files that break the rules in these folders, and cruises them itself.
    exclude: { path: ['^(dist|node_modules)/', '/\\.dependency-probe-'] },
  },
};
