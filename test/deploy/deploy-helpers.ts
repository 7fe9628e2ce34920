/**
 * Shared by the deployment specs (test/deploy/*.spec.ts): the repository's apps and their config
 * schemas, rendering the kustomize overlays, and checking manifests against the Kubernetes 1.30 API
 * types and KEDA's CRD.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import ts from 'typescript';
import type { LabelSelector, ObjectMeta } from 'kubernetes-types/meta/v1';
import { parseAllDocuments } from 'yaml';
import { workerHealthEnv } from '@rescue/observability';

export const ROOT = join(__dirname, '..', '..');

/** A rendered manifest before its kind is known; {@link ofKind} gives the typed ones. */
export interface Manifest {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  [field: string]: unknown;
}

/** The manifests of one kind, typed as that kind (the schema spec checks they are). */
export function ofKind<T>(docs: Manifest[], kind: string): T[] {
  return docs.filter((d) => d.kind === kind) as unknown as T[];
}

/** Every app under apps/ (a folder with src/main.ts). */
export function repoApps(): string[] {
  return readdirSync(join(ROOT, 'apps'))
    .filter((name) => existsSync(join(ROOT, 'apps', name, 'src', 'main.ts')))
    .sort();
}

/** The apps that run as services (everything but the CLI). */
export function serviceApps(): string[] {
  return repoApps().filter((a) => a !== 'cli');
}

/** `node dist/apps/<app>/src/main.js`: the compiled entry of an app. */
export const appEntry = (app: string): string => `dist/apps/${app}/src/main.js`;

/** The app a command line runs, if it runs one. */
export function appOfCommand(command: unknown[] | undefined): string | undefined {
  for (const arg of command ?? []) {
    const m = /^dist\/apps\/([a-z0-9-]+)\/src\/main\.js$/.exec(String(arg));
    if (m) return m[1];
  }
  return undefined;
}

interface ZodObjectLike {
  shape: Record<string, unknown>;
  safeParse: unknown;
}
const isZodObject = (v: unknown): v is ZodObjectLike => typeof v === 'object' && v !== null && 'shape' in v && 'safeParse' in v;

/**
 * Each app's environment variables, read from the zod schemas its `*.config.ts` files export (the
 * schema each main.ts parses), so a variable added to a schema is checked here without editing the
 * spec. The CLI composes fragments inline; it gets the fragments of @rescue/config.
 */
export function appEnvKeys(): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const app of repoApps()) {
    const keys = new Set<string>();
    const src = join(ROOT, 'apps', app, 'src');
    for (const file of readdirSync(src).filter((f) => f.endsWith('.config.ts'))) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      for (const value of Object.values(require(join(src, file)) as Record<string, unknown>)) if (isZodObject(value)) Object.keys(value.shape).forEach((k) => keys.add(k));
    }
    // The worker apps' main.ts also parses the health listener's schema (HEALTH_PORT, HEALTH_HOST,
    // SHUTDOWN_GRACE_MS) from @rescue/observability.
    if (readFileSync(join(src, 'main.ts'), 'utf8').includes('workerHealthEnv')) Object.keys(workerHealthEnv.shape).forEach((k) => keys.add(k));
    out.set(app, keys);
  }
  return out;
}

/** Every variable of the config schema: the apps' schemas and every fragment @rescue/config exports. */
export function allEnvKeys(): Set<string> {
  const keys = new Set<string>();
  for (const set of appEnvKeys().values()) set.forEach((k) => keys.add(k));
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  for (const value of Object.values(require(join(ROOT, 'libs', 'config', 'src')) as Record<string, unknown>)) if (isZodObject(value)) Object.keys(value.shape).forEach((k) => keys.add(k));
  return keys;
}

/** BullMQ's default Worker lockDuration (ms), read from the installed bullmq so the check follows upgrades. */
export function bullmqDefaultLockDuration(): number {
  const worker = join(dirname(require.resolve('bullmq/package.json')), 'dist', 'cjs', 'classes', 'worker.js');
  const m = /lockDuration:\s*(\d+)/.exec(readFileSync(worker, 'utf8'));
  if (!m) throw new Error(`cannot find BullMQ's default lockDuration in ${worker}: update bullmqDefaultLockDuration()`);
  return Number(m[1]);
}

/** Whether a command can run here, or why not (printed when a spec skips). */
export function toolAvailable(command: string, args: string[]): { ok: true; output: string } | { ok: false; reason: string } {
  const res = spawnSync(command, args, { encoding: 'utf8' });
  if (res.error) return { ok: false, reason: `${command} is not installed (${(res.error as NodeJS.ErrnoException).code ?? res.error.message})` };
  if (res.status !== 0) return { ok: false, reason: `\`${command} ${args.join(' ')}\` exited ${res.status}: ${res.stderr.trim()}` };
  return { ok: true, output: `${res.stdout}${res.stderr}` };
}

/**
 * kubectl with a kustomize new enough for our kustomizations (`labels`, `patches` with label
 * targets: kustomize 4.5, kubectl 1.24). Debian bookworm's kubernetes-client (kubectl 1.20, kustomize
 * 2.0.3) is too old; the Google Cloud SDK's kubectl and upstream builds are fine.
 */
export function kubectlStatus(): { ok: true } | { ok: false; reason: string } {
  const probe = toolAvailable('kubectl', ['version', '--client']);
  if (!probe.ok) return probe;
  const m = /Kustomize Version:\s*v?(\d+)\.(\d+)/.exec(probe.output);
  if (!m) return { ok: false, reason: `kubectl reports no embedded kustomize version (kubectl < 1.21): ${probe.output.trim().split('\n')[0]}` };
  const [major, minor] = [Number(m[1]), Number(m[2])];
  if (major < 4 || (major === 4 && minor < 5)) return { ok: false, reason: `kubectl embeds kustomize v${major}.${minor}; these kustomizations need v4.5 or newer (kubectl 1.24+)` };
  return { ok: true };
}

export function overlays(): string[] {
  return readdirSync(join(ROOT, 'k8s', 'overlays'))
    .filter((d) => existsSync(join(ROOT, 'k8s', 'overlays', d, 'kustomization.yaml')))
    .sort();
}

/** `kubectl kustomize k8s/overlays/<name>`, parsed. */
export function renderOverlay(name: string): Manifest[] {
  const res = spawnSync('kubectl', ['kustomize', join(ROOT, 'k8s', 'overlays', name)], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (res.status !== 0) throw new Error(`kubectl kustomize k8s/overlays/${name} failed: ${res.stderr || res.error?.message}`);
  return parseYamlDocuments(res.stdout, `k8s/overlays/${name}`);
}

export function parseYamlDocuments(text: string, where: string): Manifest[] {
  const docs = parseAllDocuments(text);
  const out: Manifest[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) throw new Error(`${where}: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value = doc.toJS() as Manifest | null;
    if (value) out.push(value);
  }
  return out;
}

export const idOf = (m: Manifest): string => `${m.kind}/${m.metadata?.name}`;

/**
 * The TypeScript type a manifest must satisfy: the Kubernetes 1.30 API types of kubernetes-types
 * (generated from Kubernetes 1.30's OpenAPI spec; one declaration file per group/version), or KEDA's
 * CRD types from @kubernetes-models/keda. Undefined when neither knows the kind.
 */
export function schemaTypeOf(m: Manifest): string | undefined {
  const apiVersion = String(m.apiVersion ?? '');
  const kind = String(m.kind ?? '');
  if (!/^[A-Za-z]+$/.test(kind)) return undefined;
  if (apiVersion === 'keda.sh/v1alpha1') {
    const file = join(ROOT, 'node_modules', '@kubernetes-models', 'keda', 'keda.sh', 'v1alpha1', `${kind}.d.ts`);
    return existsSync(file) ? `import("@kubernetes-models/keda/keda.sh/v1alpha1/${kind}").I${kind}` : undefined;
  }
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['core', apiVersion];
  // kubernetes-types names a group by its first label: networking.k8s.io → networking.
  const dir = group.split('.')[0];
  const file = join(ROOT, 'node_modules', 'kubernetes-types', dir, `${version}.d.ts`);
  if (!existsSync(file) || !new RegExp(`export interface ${kind} \\{`).test(readFileSync(file, 'utf8'))) return undefined;
  return `import("kubernetes-types/${dir}/${version}").${kind}`;
}

/**
 * Type-checks manifests against their schema types with the TypeScript compiler: each becomes
 * `const docN: <type> = <its JSON>;` in one in-memory file. Object literals get excess-property
 * checks at every depth, so this reports unknown fields, missing required fields, wrong types and
 * wrong apiVersion/kind literals, like a strict JSON-schema validation. Returns one message per
 * problem, prefixed with the manifest it belongs to.
 */
export function typeCheckManifests(items: { label: string; type: string; value: Manifest }[]): string[] {
  const fileName = join(ROOT, 'test', 'deploy', '__rendered_manifests__.ts');
  const starts: number[] = [];
  let text = '';
  items.forEach((item, i) => {
    starts.push(text.split('\n').length - 1);
    text += `export const doc${i}: ${item.type} = ${JSON.stringify(item.value, null, 2)};\n`;
  });
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.CommonJS,
    moduleResolution: ts.ModuleResolutionKind.Node10,
    types: [],
    skipLibCheck: true,
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, languageVersion, onError, shouldCreate) =>
    name === fileName ? ts.createSourceFile(name, text, languageVersion, true) : getSourceFile(name, languageVersion, onError, shouldCreate);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === fileName || fileExists(name);
  const readFile = host.readFile.bind(host);
  host.readFile = (name) => (name === fileName ? text : readFile(name));
  const program = ts.createProgram([fileName], options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const message = ts.flattenDiagnosticMessageText(d.messageText, '\n    ');
    if (!d.file || d.start === undefined || d.file.fileName !== fileName) return `(${d.file?.fileName ?? 'compiler'}) ${message}`;
    const line = d.file.getLineAndCharacterOfPosition(d.start).line;
    let index = 0;
    while (index + 1 < starts.length && starts[index + 1] <= line) index += 1;
    return `${items[index].label} (line ${line - starts[index] + 1} of its JSON): ${message}`;
  });
}

/** matchLabels-only selection (the only form our manifests use; matchExpressions is reported). */
export function selects(selector: LabelSelector | undefined, labels: Record<string, string> | undefined): boolean {
  if (!selector) return false;
  if (selector.matchExpressions) throw new Error('selector uses matchExpressions, which these checks do not evaluate');
  return Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels?.[k] === v);
}
