/**
 * Three tiers, one jest run by default (`npm test` runs them all; CI too):
 * - unit (`*.spec.ts`): no Redis, no worker process, no third-party data; `npm run test:unit`;
 * - integration (`*.int-spec.ts`): real Redis (found or started by tools/jest-global-setup.js),
 *   the shared data beside the repo when present, whole KB builds;
 * - e2e (`*.e2e-spec.ts`): the built `rescue` CLI, the apps as processes, the HTTP API.
 */
const base = {
  testEnvironment: 'node',
  rootDir: '.',
  roots: ['<rootDir>/apps', '<rootDir>/libs', '<rootDir>/test'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.json' }] },
  moduleFileExtensions: ['ts', 'js', 'json'],
  // `@rescue/<lib>/<module>`: one module of a library, for entry points that must not load all of it (see apps/cli/src/commands/retrieve.command.ts).
  moduleNameMapper: { '^@rescue/([a-z-]+)$': '<rootDir>/libs/$1/src', '^@rescue/([a-z-]+)/(.+)$': '<rootDir>/libs/$1/src/$2' },
};

module.exports = {
  projects: [
    { ...base, displayName: 'unit', testMatch: ['**/*.spec.ts'], testPathIgnorePatterns: ['\\.int-spec\\.ts$', '\\.e2e-spec\\.ts$', '/node_modules/'] },
    { ...base, displayName: 'integration', testMatch: ['**/*.int-spec.ts'] },
    { ...base, displayName: 'e2e', testMatch: ['**/*.e2e-spec.ts'] },
  ],
  // Redis for the integration and e2e tiers (the unit tier never connects).
  globalSetup: '<rootDir>/tools/jest-global-setup.js',
  globalTeardown: '<rootDir>/tools/jest-global-teardown.js',
  reporters: ['default', '<rootDir>/tools/jest-plain-summary.js'],
  testTimeout: 60000,
  // A leaked handle must not hang CI for its whole time limit; jest still names the leak.
  forceExit: true,
};
