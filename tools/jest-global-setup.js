// Integration tests need a real Redis (BullMQ relies on Lua scripts; mocks don't run them).
// Use REDIS_URL when it answers; otherwise start a throwaway redis-server on a free port when the
// binary exists. Fail loudly rather than skip: a skipped queue test proves nothing.
const { spawn, execFileSync } = require('node:child_process');
const net = require('node:net');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

function ping(url, timeoutMs = 1500) {
  return new Promise((resolve) => {
    const u = new URL(url);
    const socket = net.connect({ host: u.hostname, port: Number(u.port || 6379) });
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (buf) => done(buf.toString().includes('PONG') || buf.toString().includes('NOAUTH')));
  });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

module.exports = async function globalSetup() {
  // Tests run the KB code in jest's workers, whose sandboxed process.env is a copy the native
  // LanceDB module never sees: set the product's default here, where the workers inherit it, so
  // the test output is not buried in LanceDB's notices (a test that wants them passes its own env).
  process.env.LANCEDB_LOG ??= 'error';
  // One folder per run for fixtures built once and shared by spec files (libs/testing prebuiltKb).
  process.env.RESCUE_TEST_FIXTURES_DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'rescue-test-fixtures-'));
  globalThis.__RESCUE_TEST_FIXTURES__ = process.env.RESCUE_TEST_FIXTURES_DIR;
  const url = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
  if (await ping(url)) {
    process.env.REDIS_URL = url;
    return;
  }
  let binary;
  try {
    binary = execFileSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).trim();
  } catch {
    binary = '';
  }
  if (!binary) {
    throw new Error(`No Redis answers at ${url} and redis-server is not installed. Install it (apt-get install redis-server) or set REDIS_URL to a running Redis.`);
  }
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rescue-test-redis-'));
  const child = spawn(binary, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore', detached: false });
  globalThis.__RESCUE_TEST_REDIS__ = child;
  const started = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 50; i += 1) {
    if (await ping(started)) {
      process.env.REDIS_URL = started;
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`Started ${binary} on port ${port} but it did not answer PING within 5 s.`);
};
