import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import fc from 'fast-check';
import { type RescueErrorKind, classify } from '@rescue/domain';
import { buildProgram } from '../../apps/cli/src/program';
import { HOSTILE_NAMES, expectClean, expectUnpolluted, hostileName } from './hostile-names';

// The CLI's options (--language, a CWE argument, --format, --facets) with every Object.prototype
// name, run in-process through the real command tree on a real KB: each ends in a result or a
// classified error naming the option, never an internal error and never a polluted prototype.

/** Runs `rescue …args` in-process; its stdout, or the error it ended with, classified. */
async function rescue(...args: string[]): Promise<{ stdout: string; error?: { kind: RescueErrorKind | 'internal'; message: string } }> {
  let stdout = '';
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation(((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  }) as typeof process.stdout.write);
  const stderr = jest.spyOn(process.stderr, 'write').mockImplementation((() => true) as typeof process.stderr.write);
  try {
    const program = buildProgram();
    // Every command, not only the root: commander would otherwise end this process on a usage error.
    const overrideExit = (c: Command): void => {
      c.exitOverride().configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
      c.commands.forEach(overrideExit);
    };
    overrideExit(program);
    await program.parseAsync(['node', 'rescue', ...args]);
    return { stdout };
  } catch (err) {
    const c = classify(err);
    return { stdout, error: { kind: c.kind, message: c.message } };
  } finally {
    spy.mockRestore();
    stderr.mockRestore();
  }
}

describe('CLI options with Object.prototype names', () => {
  let dir: string;
  let kbDir: string;
  let good: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rescue-hostile-cli-'));
    kbDir = join(dir, 'kb');
    // Built by the CLI itself, so the KB has the local embedder `retrieve` queries with.
    const built = await rescue('kb', 'build', '--source', resolve(__dirname, '../../examples/fix-pairs'), '--kb', kbDir, '--json');
    expect(built.error).toBeUndefined();
    good = join(dir, 'good.jsonl');
    writeFileSync(good, `${JSON.stringify({ language: 'python', cwe: 'CWE-89', before: 'def f(c, n):\n    c.execute("S" + n)\n', after: 'def f(c, n):\n    c.execute("S %s", (n,))\n' })}\n`);
  }, 60_000);

  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(() => expectUnpolluted());

  it('retrieve --language <name>: a clean result (an unknown name is `other`) or an invalid-input error naming --language', async () => {
    await fc.assert(
      fc.asyncProperty(hostileName, async (name) => {
        const run = await rescue('retrieve', 'def find_user(db, name):\n    # look up the user by name with an SQL query\n', '--language', name, '--kb', kbDir);
        if (run.error) {
          expect(run.error.kind).toBe('invalid-input');
          expect(run.error.message).toMatch(/--language/);
        } else {
          const result = JSON.parse(run.stdout) as { language?: unknown };
          expectClean(result);
        }
        expectUnpolluted();
      }),
      { numRuns: 25 },
    );
  }, 120_000);

  it('kb show <name> and kb show CWE-89 --language <name>: invalid input, not found or the neutral node, never internal', async () => {
    for (const name of HOSTILE_NAMES) {
      const asCwe = await rescue('kb', 'show', name, '--kb', kbDir);
      expect(asCwe.error).toMatchObject({ kind: 'invalid-input', message: expect.stringMatching(/not a CWE id/) });
      // No node has that language: only the language-neutral node of the CWE (or none) answers.
      const asLanguage = await rescue('kb', 'show', 'CWE-89', '--language', name, '--kb', kbDir, '--json');
      if (asLanguage.error) expect(asLanguage.error.kind).toBe('not-found');
      else {
        const nodes = JSON.parse(asLanguage.stdout) as { id: string; language?: string }[];
        expectClean(nodes);
        expect(nodes.map((n) => n.id)).toEqual(['any:CWE-89']);
      }
    }
  });

  it('kb ingest --format <name> and eval --facets <name>: invalid input naming the option', async () => {
    for (const name of HOSTILE_NAMES) {
      const ingest = await rescue('kb', 'ingest', '--source', good, '--out', join(dir, 'ingest'), '--format', name);
      expect(ingest.error).toMatchObject({ kind: 'invalid-input', message: expect.stringMatching(/--format/) });
      const evaluation = await rescue('eval', 'retrieval', '--tasks', good, '--facets', name, '--kb', kbDir);
      expect(evaluation.error).toMatchObject({ kind: 'invalid-input', message: expect.stringMatching(/unknown facet/) });
    }
  });
});
