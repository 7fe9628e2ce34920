/** One jest run covers unit (*.spec.ts) and integration (*.int-spec.ts) tests; integration tests use the real Redis found or started by tools/jest-global-setup.js. */
module.exports = {
  testEnvironment: 'node',
  rootDir: '.',
  roots: ['<rootDir>/apps', '<rootDir>/libs', '<rootDir>/test'],
  testMatch: ['**/*.spec.ts', '**/*.int-spec.ts', '**/*.e2e-spec.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.json' }] },
  moduleFileExtensions: ['ts', 'js', 'json'],
  moduleNameMapper: { '^@rescue/([a-z-]+)$': '<rootDir>/libs/$1/src' },
  globalSetup: '<rootDir>/tools/jest-global-setup.js',
  globalTeardown: '<rootDir>/tools/jest-global-teardown.js',
  reporters: ['default', '<rootDir>/tools/jest-plain-summary.js'],
  testTimeout: 60000,
  // A leaked handle must not hang CI for its whole time limit; jest still names the leak.
  forceExit: true,
};
