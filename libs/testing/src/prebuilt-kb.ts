import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { z } from 'zod';
import { loadConfig } from '@rescue/config';

const run = promisify(execFile);
const root = resolve(__dirname, '../../..');

/** Set by tools/jest-global-setup.js: a folder that lives as long as the test run. */
const fixturesEnv = z.object({ RESCUE_TEST_FIXTURES_DIR: z.string().min(1).optional() });

/**
 * The KB most end-to-end specs query: our example fix pairs and the sample catalogue, built once per
 * test run by the built CLI (the e2e tier runs after `npm run build`) and copied for each caller, so
 * a spec may republish or prune its copy without disturbing the others. Jest runs spec files in
 * separate processes, so "once" is a folder named by the run (RESCUE_TEST_FIXTURES_DIR, set by the
 * global setup); two processes asking at the same moment both build and the first rename wins. A
 * spec run outside that setup builds its own.
 */
export async function prebuiltKb(into: string): Promise<string> {
  const shared = loadConfig(fixturesEnv).RESCUE_TEST_FIXTURES_DIR;
  const target = join(into, 'kb');
  if (!shared) {
    await buildExampleKb(target);
    return target;
  }
  const cached = join(shared, 'example-kb');
  if (!existsSync(cached)) {
    const staging = mkdtempSync(join(shared, 'building-'));
    await buildExampleKb(join(staging, 'kb'));
    try {
      renameSync(join(staging, 'kb'), cached);
    } catch (err) {
      // Another process published it first: theirs is the same build, ours is dropped.
      if (!existsSync(cached)) throw err;
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
  }
  cpSync(cached, target, { recursive: true });
  return target;
}

async function buildExampleKb(kbDir: string): Promise<void> {
  const args = [join(root, 'bin/rescue.js'), 'kb', 'build', '--source', join(root, 'examples/fix-pairs'), '--cwe-catalog', join(root, 'examples/cwe-catalog-sample.csv'), '--kb', kbDir, '--json'];
  await run(process.execPath, args, { cwd: root, maxBuffer: 1 << 24 });
}
