const fs = require('node:fs');

module.exports = async function globalTeardown() {
  const fixtures = globalThis.__RESCUE_TEST_FIXTURES__;
  if (fixtures) fs.rmSync(fixtures, { recursive: true, force: true });
  const child = globalThis.__RESCUE_TEST_REDIS__;
  if (child && child.exitCode === null) child.kill('SIGTERM');
};
