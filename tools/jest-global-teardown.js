module.exports = async function globalTeardown() {
  const child = globalThis.__RESCUE_TEST_REDIS__;
  if (child && child.exitCode === null) child.kill('SIGTERM');
};
