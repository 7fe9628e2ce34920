/**
 * A dry check of the Dockerfile (no container engine runs here, and no Dockerfile linter is
 * installed): its stages, base image and user, that every COPY source exists in the build context
 * and is not excluded by .dockerignore, that every data folder the code reads at run time is
 * copied, and that the commands it and the deployments run are files the build produces.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, appEntry, parseYamlDocuments, serviceApps } from './deploy-helpers';

interface Instruction {
  op: string;
  args: string;
  stage: number;
}

/** Instructions with continuation lines joined and comments dropped; `stage` counts FROMs. */
function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let stage = -1;
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!pending && (line === '' || line.startsWith('#'))) continue;
    if (pending && line.startsWith('#')) continue;
    pending += `${line.replace(/\\$/, '')} `;
    if (line.endsWith('\\')) continue;
    const m = /^(\w+)\s+(.*)$/.exec(pending.trim());
    pending = '';
    if (!m) continue;
    const op = m[1].toUpperCase();
    if (op === 'FROM') stage += 1;
    out.push({ op, args: m[2].trim(), stage });
  }
  return out;
}

/** .dockerignore semantics (the subset we use): `*`, `**` and `!`, the last matching line wins, a folder excludes its files. */
function dockerIgnored(path: string, patterns: string[]): boolean {
  // `**/` is any folder depth, `*` anything within one path segment.
  const toRegex = (p: string) =>
    new RegExp(
      `^${p
        .split('**/')
        .map((part) => part.replace(/[.+^${}()|[\]]/g, '\\$&').replace(/\*/g, '[^/]*'))
        .join('(?:.*/)?')}$`,
    );
  const parts = path.split('/');
  const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
  let ignored = false;
  for (const line of patterns) {
    const negate = line.startsWith('!');
    const re = toRegex(negate ? line.slice(1) : line);
    if (prefixes.some((p) => re.test(p))) ignored = !negate;
  }
  return ignored;
}

const dockerfile = parseDockerfile(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));
const lastStage = Math.max(...dockerfile.map((i) => i.stage));
const runtime = dockerfile.filter((i) => i.stage === lastStage);

/** The exec-form JSON array of a CMD or HEALTHCHECK … CMD. */
const execForm = (args: string): string[] => JSON.parse(args.replace(/^.*?CMD\s+/, '')) as string[];

/** The TypeScript source `npm run build` compiles to a dist/ path (tsconfig.build.json: rootDir `.`, outDir dist). */
const sourceOf = (distPath: string): string => distPath.replace(/^dist\//, '').replace(/\.js$/, '.ts');

describe('Dockerfile', () => {
  it('builds in two stages on Debian-based Node 20 and runs as a non-root user', () => {
    const nodeImage = /^ARG NODE_IMAGE=(.+)$/m.exec(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'))?.[1];
    // glibc (not Alpine's musl): @lancedb/lancedb ships its native binary for glibc.
    expect(nodeImage).toMatch(/^node:20(\.\d+)*-(bookworm-)?slim$/);
    expect(dockerfile.filter((i) => i.op === 'FROM').map((i) => i.args)).toEqual(['${NODE_IMAGE} AS build', '${NODE_IMAGE} AS runtime']);
    const user = runtime.filter((i) => i.op === 'USER').pop()?.args;
    expect(user).toBeDefined();
    expect(['root', '0']).not.toContain(user);
  });

  it('installs with npm ci: everything to build, then runtime dependencies only', () => {
    const runs = (stage: number) =>
      dockerfile
        .filter((i) => i.stage === stage && i.op === 'RUN')
        .map((i) => i.args)
        .join('\n');
    expect(runs(0)).toMatch(/npm ci\b(?![^\n]*--omit=dev)/);
    expect(runs(0)).toContain('npm run build');
    expect(runs(lastStage)).toMatch(/npm ci --omit=dev/);
    expect(runs(lastStage)).not.toContain('npm run build');
    expect(runtime.some((i) => i.op === 'COPY' && /^--from=build \/app\/dist /.test(i.args))).toBe(true);
  });

  it('copies only sources that exist in the build context and are not ignored', () => {
    const problems: string[] = [];
    for (const copy of dockerfile.filter((i) => i.op === 'COPY' && !i.args.startsWith('--from'))) {
      const words = copy.args.split(/\s+/).filter((w) => !w.startsWith('--'));
      for (const source of words.slice(0, -1)) {
        const path = source.replace(/\/$/, '');
        if (!existsSync(join(ROOT, path))) problems.push(`COPY ${source}: does not exist`);
        else if (dockerIgnored(path, ignore)) problems.push(`COPY ${source}: excluded by .dockerignore`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('copies every data folder the libraries read at run time', () => {
    // The build stage gathers libs/*/data (whatever libs have one) and the runtime stage copies
    // the result; a data folder is found at run time by walking up from dist/ to libs/<lib>/data.
    const build = dockerfile
      .filter((i) => i.stage === 0 && i.op === 'RUN')
      .map((i) => i.args)
      .join('\n');
    const gathered = /cp -r --parents libs\/\*\/data (\S+)\/?/.exec(build)?.[1]?.replace(/\/$/, '');
    expect(gathered).toBeDefined();
    expect(runtime.some((i) => i.op === 'COPY' && i.args === `--from=build ${gathered}/libs ./libs`)).toBe(true);
    const dataDirs = readdirSync(join(ROOT, 'libs')).filter((lib) => existsSync(join(ROOT, 'libs', lib, 'data')));
    expect(dataDirs.length).toBeGreaterThan(0);
    // The glob must not be excluded from the build context either.
    expect(dataDirs.filter((lib) => dockerIgnored(`libs/${lib}/data`, ignore))).toEqual([]);
  });

  it('starts and health-checks files the build produces', () => {
    const cmd = execForm(runtime.filter((i) => i.op === 'CMD').pop()?.args ?? '[]');
    const health = execForm(runtime.filter((i) => i.op === 'HEALTHCHECK').pop()?.args ?? '[]');
    const deploymentEntries = serviceApps().map(appEntry);
    // k8s exec probes and the compose healthcheck run the same probe file.
    const k8sProbeFiles = parseYamlDocuments(readFileSync(join(ROOT, 'k8s', 'base', 'slicer.yaml'), 'utf8'), 'slicer.yaml').flatMap((d) => JSON.stringify(d).match(/dist\/[\w/.-]+\.js/g) ?? []);
    const files = new Set([cmd[1], health[1], ...deploymentEntries, ...k8sProbeFiles, appEntry('cli')]);
    const problems: string[] = [];
    const built = existsSync(join(ROOT, 'dist', 'apps'));
    for (const file of files) {
      if (!file?.startsWith('dist/')) {
        problems.push(`${file}: not a dist/ file`);
        continue;
      }
      if (!existsSync(join(ROOT, sourceOf(file)))) problems.push(`${file}: no source ${sourceOf(file)}`);
      // After `npm run build` (npm test runs it first), the compiled file must be there too.
      if (built && !existsSync(join(ROOT, file))) problems.push(`${file}: missing from dist/ (run npm run build)`);
    }
    const buildConfig = JSON.parse(readFileSync(join(ROOT, 'tsconfig.build.json'), 'utf8')) as { include: string[] };
    for (const dir of ['apps', 'libs', 'tools']) if (!buildConfig.include.includes(`${dir}/**/*.ts`)) problems.push(`tsconfig.build.json does not compile ${dir}/`);
    expect(problems).toEqual([]);
  });
});
