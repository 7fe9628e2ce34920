import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';

// Every rule of .dependency-cruiser.cjs fires: files that break it are planted inside the repo
// (where the rule's paths point), and depcruise, with the real configuration, is run on the
// planted files only (--max-depth 1: their own imports, not the whole graph). A floor's breaking
// file imports every library off the floor, each of which must be reported; another file imports
// every library on it, none of which may be, so a floor that refuses too much fails as well. The
// files live in dot-folders, which tsc's and jest's globs skip, and are removed afterwards.

const run = promisify(execFile);
const root = resolve(__dirname, '../../..');
const CONFIG = join(root, '.dependency-cruiser.cjs');

interface Rule {
  name: string;
  from: { path?: string };
  to: { path?: string; pathNot?: string; circular?: boolean };
}

interface Violation {
  from: string;
  to: string;
  rule: { name: string };
}

// The configuration is CommonJS outside the TypeScript program: loaded as depcruise loads it.
const rules = (createRequire(__filename)(CONFIG) as { forbidden: Rule[] }).forbidden;
const libs = readdirSync(join(root, 'libs')).sort();
const probeDir = `.dependency-probe-${process.pid}`;
const indexOf = (lib: string): string => `libs/${lib}/src/index.ts`;

interface Probe {
  file: string;
  imports: string[];
  /** The rule the file must break; undefined: the file must break none. */
  breaks?: string;
}

/** The other libraries whose index the rule forbids (`forbidden: true`) or lets through. */
function librariesFor(rule: Rule, lib: string, forbidden: boolean): string[] {
  return libs.filter((t) => {
    const path = indexOf(t);
    const refused = new RegExp(rule.to.path ?? '').test(path) && !new RegExp(rule.to.pathNot ?? '$^').test(path);
    return t !== lib && refused === forbidden;
  });
}

/** A floor rule's library, from where it applies: `^libs/<lib>/`. */
const floorOf = (rule: Rule): string | undefined => /^\^libs\/([a-z-]+)\/$/.exec(rule.from.path ?? '')?.[1];

function probes(): Probe[] {
  const out: Probe[] = [];
  const at = (dir: string, name: string): string => join(dir, probeDir, name);
  for (const rule of rules) {
    const lib = floorOf(rule);
    if (!lib) continue;
    // Every library off the floor in one file (each must be reported), every one on it in another (none may be).
    const forbidden = librariesFor(rule, lib, true);
    const allowed = librariesFor(rule, lib, false);
    if (forbidden.length > 0) out.push({ file: at(`libs/${lib}`, 'breaks-floor.ts'), imports: forbidden.map((t) => `@rescue/${t}`), breaks: rule.name });
    if (allowed.length > 0) out.push({ file: at(`libs/${lib}`, 'within-floor.ts'), imports: allowed.map((t) => `@rescue/${t}`) });
  }
  out.push(
    { file: at('libs/domain', 'imports-an-app.ts'), imports: ['../../../apps/cli/src/options'], breaks: 'libs-never-import-apps' },
    { file: at('apps/api', 'imports-another-app.ts'), imports: ['../../cli/src/options'], breaks: 'apps-never-import-apps' },
    { file: at('apps/api', 'imports-testing.ts'), imports: ['@rescue/testing'], breaks: 'testing-lib-only-in-tests' },
    // depcruise reports a cycle once, from one of its files.
    { file: at('libs/domain', 'cycle-a.ts'), imports: ['./cycle-b'], breaks: 'no-circular' },
    { file: at('libs/domain', 'cycle-b.ts'), imports: ['./cycle-a'], breaks: 'no-circular' },
  );
  return out;
}

/** Violations depcruise reports for these files, with the real configuration. */
async function depcruise(args: string[]): Promise<Violation[]> {
  const bin = join(root, 'node_modules/.bin/depcruise');
  // The configuration excludes the probe folders, so that `npm run lint` running meanwhile never
  // sees them; here only that exclusion is lifted (a command-line --exclude replaces the file's).
  const exclude = ['--exclude', '^(dist|node_modules)/'];
  const { stdout } = await run(process.execPath, [bin, '--config', CONFIG, ...exclude, '--output-type', 'json', ...args], { cwd: root, maxBuffer: 1 << 26 }).catch((err: { stdout?: string }) => {
    // depcruise may exit non-zero when rules are broken, which is what this test wants to see.
    if (!err.stdout) throw err;
    return { stdout: err.stdout };
  });
  return (JSON.parse(stdout) as { summary: { violations: Violation[] } }).summary.violations;
}

describe('dependency-cruiser rules (.dependency-cruiser.cjs)', () => {
  const planted = probes();
  const dirs = [...new Set(planted.map((p) => join(root, p.file, '..')))];
  let violations: Violation[] = [];

  beforeAll(async () => {
    for (const p of planted) {
      mkdirSync(join(root, p.file, '..'), { recursive: true });
      writeFileSync(join(root, p.file), `${p.imports.map((i) => `import '${i}';`).join('\n')}\nexport const probe = 1;\n`);
    }
    try {
      // A cycle shows only two levels down, so the cycle's files (which import nothing else) are
      // cruised without a depth limit, beside the rest.
      const cycle = planted.filter((p) => p.breaks === 'no-circular').map((p) => p.file);
      const rest = planted.filter((p) => p.breaks !== 'no-circular').map((p) => p.file);
      violations = (await Promise.all([depcruise(['--max-depth', '1', ...rest]), depcruise(cycle)])).flat();
    } finally {
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('plants a violation of every rule, and gives every library a floor', () => {
    const probed = new Set(planted.map((p) => p.breaks));
    expect(rules.map((r) => r.name).filter((name) => !probed.has(name))).toEqual([]);
    expect(libs.filter((lib) => !rules.some((r) => r.name.startsWith(`${lib}-imports-`)))).toEqual([]);
  });

  it.each(rules.map((r) => [r.name]))('%s fires on its planted files', (rule) => {
    const files = planted.filter((p) => p.breaks === rule).map((p) => relative('.', p.file));
    expect(violations.filter((v) => files.includes(v.from)).map((v) => v.rule.name)).toContain(rule);
  });

  it.each(rules.filter((r) => floorOf(r)).map((r) => [r.name, r]))('%s refuses every library off its floor, each by name', (name, rule) => {
    const file = planted.find((p) => p.breaks === name)?.file;
    const reported = violations.filter((v) => file && v.from === relative('.', file) && v.rule.name === name).map((v) => v.to);
    expect(reported.sort()).toEqual(
      librariesFor(rule as Rule, floorOf(rule as Rule) as string, true)
        .map(indexOf)
        .sort(),
    );
  });

  it.each(planted.filter((p) => !p.breaks).map((p) => [relative('.', p.file), p.imports.join(', ')]))('%s may import %s', (file) => {
    expect(violations.filter((v) => v.from === file)).toEqual([]);
  });
});
