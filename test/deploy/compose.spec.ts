/**
 * docker-compose.yml and .env.example: `docker-compose config -q` (Debian's docker-compose) accepts
 * the file with .env.example's values, every app runs as a healthchecked service of the one image
 * with every variable of its config schema passed through, Redis is durable and never evicts, and
 * Elasticsearch has security on. The compose checks skip, saying why, where docker-compose is absent;
 * no container engine is needed (config only renders the file).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Manifest, ROOT, allEnvKeys, appEntry, appEnvKeys, appOfCommand, parseYamlDocuments, serviceApps, toolAvailable } from './deploy-helpers';

interface ComposeService {
  image?: string;
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string | null>;
  healthcheck?: { test?: string[]; disable?: boolean };
  depends_on?: Record<string, { condition?: string }>;
  restart?: string;
  profiles?: string[];
  volumes?: string[];
  stop_grace_period?: string;
}

const compose = toolAvailable('docker-compose', ['version']);
if (!compose.ok) console.warn(`test/deploy/compose.spec.ts: docker-compose checks skipped: ${compose.reason}`);
const describeWithCompose = compose.ok ? describe : describe.skip;

/**
 * docker-compose with .env.example as its only input: a clean environment, because compose lets
 * the shell's variables (REDIS_URL of the test run, say) override the env file.
 */
function dockerCompose(args: string[]) {
  return spawnSync('docker-compose', ['--project-directory', ROOT, '--env-file', join(ROOT, '.env.example'), '-f', join(ROOT, 'docker-compose.yml'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp' },
  });
}

describeWithCompose('docker-compose.yml', () => {
  let services: Record<string, ComposeService>;

  beforeAll(() => {
    const res = dockerCompose(['config']);
    if (res.status !== 0) throw new Error(`docker-compose config failed: ${res.stderr}`);
    services = (parseYamlDocuments(res.stdout, 'docker-compose config')[0] as Manifest & { services: Record<string, ComposeService> }).services;
  });

  it('is accepted by `docker-compose config -q` with the values of .env.example', () => {
    const res = dockerCompose(['config', '-q']);
    expect({ status: res.status, stderr: res.stderr.trim() }).toEqual({ status: 0, stderr: '' });
  });

  it('runs every app as a service of the one image, with a healthcheck, restarts and Redis up first', () => {
    const problems: string[] = [];
    const images = new Set<string | undefined>();
    for (const app of serviceApps()) {
      const entries = Object.entries(services).filter(([, s]) => appOfCommand([...(s.entrypoint ?? []), ...(s.command ?? [])]) === app);
      if (entries.length !== 1) {
        problems.push(`${app}: ${entries.length} services run ${appEntry(app)}`);
        continue;
      }
      const [name, service] = entries[0];
      images.add(service.image);
      const test = service.healthcheck?.test ?? [];
      if (service.healthcheck?.disable || test.length === 0 || test[0] === 'NONE') problems.push(`${name}: no healthcheck`);
      if (service.restart !== 'unless-stopped' && service.restart !== 'always') problems.push(`${name}: restart ${service.restart}`);
      if (service.depends_on?.redis?.condition !== 'service_healthy') problems.push(`${name}: does not wait for a healthy Redis`);
      if (!(service.volumes ?? []).some((v) => v.endsWith(':/data:rw') || v.endsWith(':/data'))) problems.push(`${name}: does not mount the shared data volume at /data`);
      const usesEs = appEnvKeys().get(app)?.has('ELASTICSEARCH_URL');
      if (usesEs && service.depends_on?.elasticsearch?.condition !== 'service_healthy') problems.push(`${name}: uses Elasticsearch but does not wait for it`);
    }
    expect(problems).toEqual([]);
    expect(images.size).toBe(1);
  });

  it("passes every variable of each app's config schema to its service", () => {
    const env = appEnvKeys();
    const missing: string[] = [];
    for (const app of serviceApps()) {
      const service = Object.values(services).find((s) => appOfCommand(s.command) === app);
      for (const key of env.get(app) ?? []) if (!(key in (service?.environment ?? {}))) missing.push(`${app}: ${key}`);
    }
    expect(missing).toEqual([]);
  });

  it("bounds every app's shutdown (SHUTDOWN_GRACE_MS) a few seconds under its stop_grace_period", () => {
    const problems: string[] = [];
    // Compose durations as `docker-compose config` prints them: 30s, 2m0s, 1h2m3s.
    const seconds = (d: string | undefined) => {
      const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?$/.exec(d ?? '10s');
      return m ? Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0) : NaN;
    };
    for (const [name, service] of Object.entries(services)) {
      const app = appOfCommand(service.command);
      if (!app || !serviceApps().includes(app)) continue;
      const shutdownMs = Number(service.environment?.SHUTDOWN_GRACE_MS);
      const graceS = seconds(service.stop_grace_period);
      if (!Number.isFinite(shutdownMs) || shutdownMs <= 0) problems.push(`${name}: no SHUTDOWN_GRACE_MS`);
      else if (shutdownMs > graceS * 1000 - 2000) problems.push(`${name}: SHUTDOWN_GRACE_MS ${shutdownMs} is not at least 2 s under stop_grace_period ${service.stop_grace_period}`);
    }
    expect(problems).toEqual([]);
  });

  it('keeps Redis durable (AOF, noeviction, a volume) and Elasticsearch secured', () => {
    const redis = services.redis;
    const command = (redis?.command ?? []).join(' ');
    expect(command).toContain('--appendonly yes');
    expect(command).toContain('--maxmemory-policy noeviction');
    expect(redis?.volumes?.some((v) => v.endsWith(':/data:rw') || v.endsWith(':/data'))).toBe(true);
    const es = services.elasticsearch;
    expect(es?.image).toMatch(/elasticsearch:8\./);
    expect(es?.environment).toMatchObject({ 'discovery.type': 'single-node', 'xpack.security.enabled': 'true' });
    expect(es?.environment?.ELASTIC_PASSWORD).toBeTruthy();
  });

  it('offers the CLI for `compose run` and an OpenAI-compatible model server behind a profile', () => {
    const cli = Object.values(services).find((s) => appOfCommand(s.entrypoint) === 'cli');
    expect(cli?.profiles?.length).toBeGreaterThan(0);
    const llm = Object.values(services).filter((s) => s.profiles?.includes('llm'));
    expect(llm.length).toBeGreaterThan(0);
    // Nothing that `up` starts by default may depend on a service that only a profile starts.
    const profiled = new Set(
      Object.entries(services)
        .filter(([, s]) => s.profiles?.length)
        .map(([n]) => n),
    );
    const broken = Object.entries(services)
      .filter(([, s]) => !s.profiles?.length && Object.keys(s.depends_on ?? {}).some((d) => profiled.has(d)))
      .map(([n]) => n);
    expect(broken).toEqual([]);
  });
});

describe('.env.example', () => {
  const text = readFileSync(join(ROOT, '.env.example'), 'utf8');
  const lines = text.split('\n');
  /** KEY → the line it is on, for `KEY=…` and documented-but-off `# KEY=…` lines. */
  const entries = new Map<string, number>();
  lines.forEach((line, i) => {
    const m = /^(?:#\s*)?([A-Z][A-Z0-9_]*)=/.exec(line);
    if (m) entries.set(m[1], i);
  });

  it('lists every variable of the config schema, each under a comment', () => {
    const problems: string[] = [];
    for (const key of allEnvKeys()) {
      const at = entries.get(key);
      if (at === undefined) problems.push(`${key}: missing`);
      else if (!lines[at - 1]?.startsWith('#')) problems.push(`${key}: no comment above it`);
    }
    expect(problems).toEqual([]);
  });

  it('defines each variable once', () => {
    const defined = lines.map((l) => /^([A-Z][A-Z0-9_]*)=/.exec(l)?.[1]).filter((k): k is string => k !== undefined);
    expect(defined.filter((k, i) => defined.indexOf(k) !== i)).toEqual([]);
  });

  it('holds placeholders, never secrets', () => {
    const value = (key: string) => new RegExp(`^${key}=(.*)$`, 'm').exec(text)?.[1];
    expect(value('LLM_API_KEY')).toBe('');
    expect(value('API_KEYS')).toBe('');
    expect(value('ELASTIC_PASSWORD')).toMatch(/change-me/i);
  });
});
