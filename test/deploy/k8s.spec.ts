/**
 * k8s/: each overlay renders with `kubectl kustomize`, every rendered manifest is valid against the
 * Kubernetes 1.30 API types or KEDA's CRD, and the manifests fit the code: every queue has a KEDA
 * scaler on its BullMQ backlog, every app a Deployment with probes, resources and a grace period
 * covering its job lock, every variable of the config schema a value, every dependency a network path.
 * Skips, saying why, where kubectl (with kustomize 4.5+) is absent. Needs no cluster and no Redis.
 */
import type { Deployment, StatefulSet } from 'kubernetes-types/apps/v1';
import type { CronJob } from 'kubernetes-types/batch/v1';
import type { ConfigMap, Container, PodSpec, Secret, Service } from 'kubernetes-types/core/v1';
import type { NetworkPolicy } from 'kubernetes-types/networking/v1';
import type { PodDisruptionBudget } from 'kubernetes-types/policy/v1';
import { type IScaledObject, ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { type ITriggerAuthentication, TriggerAuthentication } from '@kubernetes-models/keda/keda.sh/v1alpha1/TriggerAuthentication';
import { QUEUE_CONSUMER, QueueName } from '@rescue/contracts';
import {
  type Manifest,
  appEntry,
  appEnvKeys,
  appOfCommand,
  bullmqDefaultLockDuration,
  idOf,
  kubectlStatus,
  ofKind,
  overlays,
  renderOverlay,
  schemaTypeOf,
  selects,
  serviceApps,
  typeCheckManifests,
} from './deploy-helpers';

/** The LLM-bound stages, which KEDA may scale to zero (their queues are empty between builds and batches). */
const SCALE_TO_ZERO = new Set(['cluster-summarize', 'generator']);

const kubectl = kubectlStatus();
if (!kubectl.ok) console.warn(`test/deploy/k8s.spec.ts skipped: ${kubectl.reason}`);
const describeWithKubectl = kubectl.ok ? describe : describe.skip;

/** KEDA's own CRD validators (the openAPIV3Schema of KEDA 2.10.1's CRDs, compiled by @kubernetes-models/keda). */
function kedaCrdProblems(doc: Manifest): string[] {
  const Model = doc.kind === 'ScaledObject' ? ScaledObject : doc.kind === 'TriggerAuthentication' ? TriggerAuthentication : undefined;
  if (!Model) return [`${idOf(doc)}: no KEDA CRD schema for this kind`];
  try {
    new Model(doc as never).validate();
    return [];
  } catch (err) {
    return [`${idOf(doc)}: ${(err as Error).message}`];
  }
}

function schemaProblems(label: string, docs: Manifest[]): string[] {
  const items = docs.map((d) => ({ label: `${label} ${idOf(d)}`, type: schemaTypeOf(d), value: d }));
  const unknown = items.filter((i) => !i.type).map((i) => `${i.label}: no Kubernetes 1.30 or KEDA schema for ${i.value.apiVersion} ${i.value.kind}`);
  const typed = items.filter((i): i is typeof i & { type: string } => i.type !== undefined);
  return [...unknown, ...typeCheckManifests(typed), ...docs.filter((d) => d.apiVersion === 'keda.sh/v1alpha1').flatMap(kedaCrdProblems)];
}

describe('the manifest schema checks', () => {
  // Negative controls: a check that cannot fail proves nothing.
  const deployment: Manifest = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'x' },
    spec: { selector: { matchLabels: { a: 'b' } }, template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'i' }] } } },
  };
  const scaledObject: Manifest = {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledObject',
    metadata: { name: 'x' },
    spec: { scaleTargetRef: { name: 'x' }, triggers: [{ type: 'redis', metadata: { listName: 'q' } }] },
  };

  it('accept valid manifests', () => {
    expect(schemaProblems('control', [deployment, scaledObject])).toEqual([]);
  });

  it('report unknown fields, missing required fields, wrong types and fields newer than 1.30', () => {
    const variant = (name: string, change: (spec: Record<string, unknown>, pod: Record<string, unknown>) => void): Manifest => {
      const doc = structuredClone(deployment) as Manifest & { spec: Record<string, unknown> & { template: { spec: Record<string, unknown> } } };
      doc.metadata = { name };
      change(doc.spec, doc.spec.template.spec);
      return doc;
    };
    const bad = [
      variant('typo', (_, pod) => (pod.terminationGracePeriod = 30)),
      variant('missing', (spec) => delete spec.selector),
      variant('wrong-type', (spec) => (spec.replicas = 'two')),
      // Container lifecycle.stopSignal arrived in Kubernetes 1.33, so 1.30 does not know it.
      variant('newer', (_, pod) => ((pod.containers as Record<string, unknown>[])[0].lifecycle = { stopSignal: 'SIGTERM' })),
    ];
    const problems = schemaProblems('control', [...bad, { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } }]).join('\n');
    for (const name of ['typo', 'missing', 'wrong-type', 'newer']) expect(problems).toContain(`Deployment/${name}`);
    expect(problems).toContain('no Kubernetes 1.30 or KEDA schema for example.com/v1 Widget');
  });

  it("report what KEDA's CRD rejects", () => {
    const bad = structuredClone(scaledObject) as Manifest & { spec: Record<string, unknown> };
    bad.spec.minReplicaCount = 'none';
    expect(schemaProblems('control', [bad]).join('\n')).toMatch(/minReplicaCount/);
  });
});

describeWithKubectl.each(overlays())('k8s/overlays/%s', (overlay) => {
  let docs: Manifest[];
  let deployments: Deployment[];
  let config: Record<string, string>;
  let namespace: string;
  const env = appEnvKeys();

  beforeAll(() => {
    docs = renderOverlay(overlay);
    deployments = ofKind<Deployment>(docs, 'Deployment');
    const configMaps = ofKind<ConfigMap>(docs, 'ConfigMap').filter((c) => c.metadata?.name === 'rescue-config');
    if (configMaps.length !== 1) throw new Error(`k8s/overlays/${overlay}: expected one ConfigMap rescue-config, found ${configMaps.length}`);
    config = configMaps[0].data ?? {};
    namespace = String(docs.find((d) => d.kind === 'Namespace')?.metadata?.name ?? configMaps[0].metadata?.namespace);
  });

  /** The container that runs `app`, and its Deployment. */
  function appDeployment(app: string): { deployment: Deployment; container: Container } | undefined {
    for (const deployment of deployments) {
      const container = deployment.spec?.template.spec?.containers.find((c) => appOfCommand([...(c.command ?? []), ...(c.args ?? [])]) === app);
      if (container) return { deployment, container };
    }
    return undefined;
  }

  /** The variables a container defines, in order, and what cannot be resolved (a $(VAR) before its VAR, a missing key). */
  function containerEnv(container: Container): { names: Set<string>; problems: string[] } {
    const names = new Set<string>();
    const problems: string[] = [];
    const configMap = (name: string) => ofKind<ConfigMap>(docs, 'ConfigMap').find((c) => c.metadata?.name === name);
    const secret = (name: string) => ofKind<Secret>(docs, 'Secret').find((s) => s.metadata?.name === name);
    const refs = (value: string) => [...value.replace(/\$\$\(/g, '').matchAll(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g)].map((m) => m[1]);
    for (const source of container.envFrom ?? []) {
      if (source.configMapRef) {
        const cm = configMap(source.configMapRef.name ?? '');
        if (cm) Object.keys(cm.data ?? {}).forEach((k) => names.add(k));
        else if (!source.configMapRef.optional) problems.push(`envFrom ConfigMap ${source.configMapRef.name} does not exist`);
      }
      if (source.secretRef) {
        const s = secret(source.secretRef.name ?? '');
        if (s) Object.keys({ ...s.data, ...s.stringData }).forEach((k) => names.add(k));
        else if (!source.secretRef.optional) problems.push(`envFrom Secret ${source.secretRef.name} does not exist`);
      }
    }
    for (const entry of container.env ?? []) {
      for (const ref of refs(entry.value ?? '')) if (!names.has(ref)) problems.push(`${entry.name} uses $(${ref}) before ${ref} is defined: Kubernetes would leave it unexpanded`);
      const secretRef = entry.valueFrom?.secretKeyRef;
      if (secretRef) {
        const s = secret(secretRef.name ?? '');
        const has = s && secretRef.key in { ...s.data, ...s.stringData };
        if (!has && !secretRef.optional) problems.push(`${entry.name}: Secret ${secretRef.name} has no key ${secretRef.key}`);
      }
      const cmRef = entry.valueFrom?.configMapKeyRef;
      if (cmRef && !(cmRef.key in (configMap(cmRef.name ?? '')?.data ?? {})) && !cmRef.optional) problems.push(`${entry.name}: ConfigMap ${cmRef.name} has no key ${cmRef.key}`);
      names.add(entry.name);
    }
    for (const arg of [...(container.command ?? []), ...(container.args ?? [])])
      for (const ref of refs(arg)) if (!names.has(ref)) problems.push(`argument ${arg} uses $(${ref}), which is not defined`);
    return { names, problems };
  }

  const podOf = (d: Deployment): PodSpec | undefined => d.spec?.template.spec;

  it('renders manifests that are valid against the Kubernetes 1.30 API and the KEDA CRD', () => {
    expect(docs.length).toBeGreaterThan(0);
    expect(schemaProblems(overlay, docs)).toEqual([]);
  });

  it('runs every app as a Deployment with probes, resources and a termination grace that covers its job lock', () => {
    const defaultLockMs = bullmqDefaultLockDuration();
    const problems: string[] = [];
    for (const app of serviceApps()) {
      const found = appDeployment(app);
      if (!found) {
        problems.push(`${app}: no Deployment runs ${appEntry(app)}`);
        continue;
      }
      const { deployment, container } = found;
      const where = `${app} (${idOf(deployment as Manifest)})`;
      for (const side of ['requests', 'limits'] as const) for (const resource of ['cpu', 'memory']) if (!container.resources?.[side]?.[resource]) problems.push(`${where}: no ${side}.${resource}`);
      // The API probes its own port; a worker its health listener (HEALTH_PORT), whose port must be
      // the named containerPort the probes use.
      const probePort = app === 'api' ? 'http' : 'health';
      const named = container.ports?.find((p) => p.name === probePort);
      if (!named) problems.push(`${where}: no containerPort named ${probePort}`);
      else if (app !== 'api' && String(named.containerPort) !== (config.HEALTH_PORT ?? '9100'))
        problems.push(`${where}: containerPort ${probePort} is ${named.containerPort} but HEALTH_PORT is ${config.HEALTH_PORT}`);
      for (const kind of ['startupProbe', 'livenessProbe', 'readinessProbe'] as const) {
        const probe = container[kind];
        const mode = kind === 'readinessProbe' ? 'ready' : 'live';
        if (!probe) problems.push(`${where}: no ${kind}`);
        else if (probe.httpGet?.path !== `/health/${mode}` || probe.httpGet?.port !== probePort)
          problems.push(`${where}: ${kind} should GET /health/${mode} on port ${probePort}, not ${JSON.stringify(probe.httpGet ?? probe.exec ?? probe)}`);
      }
      if (app !== 'api') {
        const annotations = deployment.spec?.template.metadata?.annotations ?? {};
        if (annotations['prometheus.io/scrape'] !== 'true' || annotations['prometheus.io/port'] !== String(named?.containerPort) || annotations['prometheus.io/path'] !== '/metrics')
          problems.push(`${where}: no Prometheus scrape annotations for /metrics on its health port`);
      }
      // Kubernetes' default grace is 30 s. A worker killed mid-job leaves the job locked for the
      // lock duration anyway, so the grace must at least cover it; LLM-bound workers must also let
      // the request in flight finish.
      const grace = podOf(deployment)?.terminationGracePeriodSeconds ?? 30;
      // The app's own shutdown bound must end first, with seconds to spare: past the grace, the
      // kubelet's SIGKILL cuts off the process's last log lines and its Redis handovers.
      const shutdownMs = Number(container.env?.find((e) => e.name === 'SHUTDOWN_GRACE_MS')?.value);
      if (!Number.isFinite(shutdownMs)) problems.push(`${where}: no SHUTDOWN_GRACE_MS in its env (each Deployment sets its own, under its grace)`);
      else if (shutdownMs > grace * 1000 - 2000) problems.push(`${where}: SHUTDOWN_GRACE_MS ${shutdownMs} is not at least 2 s under terminationGracePeriodSeconds ${grace}`);
      if (app !== 'api') {
        const lockMs = app === 'slicer' ? Number(config.SLICER_LOCK_DURATION_MS ?? 30_000) : defaultLockMs;
        if (grace < Math.ceil(lockMs / 1000)) problems.push(`${where}: terminationGracePeriodSeconds ${grace} < lock duration ${lockMs / 1000} s`);
        const llmTimeoutMs = Number(config.LLM_TIMEOUT_MS ?? 120_000);
        if (deployment.spec?.template.metadata?.labels?.['rescue/uses-llm'] === 'true' && grace < Math.ceil(llmTimeoutMs / 1000))
          problems.push(`${where}: terminationGracePeriodSeconds ${grace} < LLM_TIMEOUT_MS ${llmTimeoutMs / 1000} s`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('gives every Deployment a PodDisruptionBudget', () => {
    const pdbs = ofKind<PodDisruptionBudget>(docs, 'PodDisruptionBudget');
    const uncovered = deployments.filter((d) => !pdbs.some((p) => selects(p.spec?.selector, d.spec?.template.metadata?.labels))).map((d) => idOf(d as Manifest));
    expect(uncovered).toEqual([]);
  });

  it("scales every queue's consumer with KEDA on the queue's BullMQ backlog", () => {
    const prefix = config.QUEUE_PREFIX ?? 'rescue';
    const scaledObjects = ofKind<IScaledObject>(docs, 'ScaledObject');
    const auths = ofKind<ITriggerAuthentication>(docs, 'TriggerAuthentication');
    const secrets = ofKind<Secret>(docs, 'Secret');
    const problems: string[] = [];
    for (const queue of Object.values(QueueName)) {
      const app = QUEUE_CONSUMER[queue];
      const found = appDeployment(app);
      if (!found) {
        problems.push(`queue ${queue}: no Deployment runs its consumer ${app}`);
        continue;
      }
      const name = found.deployment.metadata?.name;
      const scaler = scaledObjects.find((s) => s.spec.scaleTargetRef.name === name && (s.spec.scaleTargetRef.kind ?? 'Deployment') === 'Deployment');
      if (!scaler) {
        problems.push(`queue ${queue}: no ScaledObject targets Deployment ${name}`);
        continue;
      }
      const where = `queue ${queue} (ScaledObject ${scaler.metadata?.name})`;
      const redisTriggers = scaler.spec.triggers.filter((t) => t.type === 'redis');
      // BullMQ's key layout: <prefix>:<queue>:wait holds the waiting jobs, :active the running ones.
      const backlog = redisTriggers.find((t) => t.metadata.listName === `${prefix}:${queue}:wait`);
      const inFlight = redisTriggers.find((t) => t.metadata.listName === `${prefix}:${queue}:active`);
      if (!backlog) problems.push(`${where}: no redis trigger on ${prefix}:${queue}:wait`);
      const concurrencyKey = [...(env.get(app) ?? [])].find((k) => k.endsWith('_CONCURRENCY'));
      if (!inFlight) problems.push(`${where}: no redis trigger on ${prefix}:${queue}:active`);
      else if (concurrencyKey && inFlight.metadata.listLength !== config[concurrencyKey])
        problems.push(`${where}: the in-flight target ${inFlight.metadata.listLength} should be ${concurrencyKey} (${config[concurrencyKey]})`);
      for (const trigger of redisTriggers) {
        if (!/^\d+$/.test(trigger.metadata.listLength ?? '')) problems.push(`${where}: listLength ${trigger.metadata.listLength} is not a count`);
        const tls = config.REDIS_SCHEME === 'rediss' ? 'true' : 'false';
        if ((trigger.metadata.enableTLS ?? 'false') !== tls) problems.push(`${where}: enableTLS ${trigger.metadata.enableTLS} but REDIS_SCHEME is ${config.REDIS_SCHEME}`);
        const addressVar = trigger.metadata.addressFromEnv;
        if (!addressVar) problems.push(`${where}: no addressFromEnv (the address must follow the apps' own Redis setting)`);
        else if (!containerEnv(found.container).names.has(addressVar)) problems.push(`${where}: addressFromEnv ${addressVar} is not in the target's environment`);
        else {
          // KEDA's operator resolves the host from its own namespace: a cluster-local name must say which.
          const host = (config[addressVar] ?? '').split(':')[0];
          if (!host.includes('.')) problems.push(`${where}: ${addressVar}=${config[addressVar]} is not namespace-qualified; KEDA resolves it from its own namespace`);
          if (/\.svc(\.cluster\.local)?$/.test(host) && host.split('.')[1] !== namespace)
            problems.push(`${where}: ${addressVar}=${config[addressVar]} names namespace ${host.split('.')[1]}, the manifests use ${namespace}`);
        }
        const auth = auths.find((a) => a.metadata?.name === trigger.authenticationRef?.name);
        if (!auth) problems.push(`${where}: TriggerAuthentication ${trigger.authenticationRef?.name} does not exist`);
        for (const ref of auth?.spec.secretTargetRef ?? []) {
          const secret = secrets.find((s) => s.metadata?.name === ref.name);
          if (!secret || !(ref.key in { ...secret.data, ...secret.stringData })) problems.push(`${where}: TriggerAuthentication reads ${ref.name}/${ref.key}, which does not exist`);
        }
      }
      const min = scaler.spec.minReplicaCount ?? 0;
      const max = scaler.spec.maxReplicaCount ?? 100;
      if (!(min <= max && max >= 1)) problems.push(`${where}: replicas ${min}..${max}`);
      if (SCALE_TO_ZERO.has(app) !== (min === 0))
        problems.push(`${where}: minReplicaCount ${min}; ${SCALE_TO_ZERO.has(app) ? 'an LLM-bound stage scales to zero' : 'a stage that is not LLM-bound keeps a pod'}`);
      if (found.deployment.spec?.replicas !== undefined) problems.push(`${where}: Deployment ${name} sets replicas, which every apply would reset under KEDA`);
    }
    for (const scaler of scaledObjects)
      if (!deployments.some((d) => d.metadata?.name === scaler.spec.scaleTargetRef.name)) problems.push(`ScaledObject ${scaler.metadata?.name} targets a missing Deployment`);
    expect(problems).toEqual([]);
  });

  it("sets every variable of each app's config schema, with every $(VAR) and every ConfigMap/Secret key resolvable", () => {
    const problems: string[] = [];
    for (const app of serviceApps()) {
      const found = appDeployment(app);
      if (!found) continue; // reported by the Deployment test
      const { names, problems: envProblems } = containerEnv(found.container);
      problems.push(...envProblems.map((p) => `${app}: ${p}`));
      for (const key of env.get(app) ?? []) if (!names.has(key)) problems.push(`${app}: ${key} (in its config schema) is set neither by rescue-config nor by its env`);
    }
    for (const cronJob of ofKind<CronJob>(docs, 'CronJob'))
      for (const container of cronJob.spec?.jobTemplate.spec?.template.spec?.containers ?? []) problems.push(...containerEnv(container).problems.map((p) => `${idOf(cronJob as Manifest)}: ${p}`));
    expect(problems).toEqual([]);
  });

  it('keeps only placeholders in its Secrets', () => {
    const real = ofKind<Secret>(docs, 'Secret').flatMap((s) =>
      [...Object.entries(s.stringData ?? {}), ...Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')] as const)]
        .filter(([, v]) => !v.includes('CHANGE_ME'))
        .map(([k]) => `${s.metadata?.name}/${k}`),
    );
    expect(real).toEqual([]);
  });

  it('denies all traffic but DNS, the API as the only ingress (others: their health port for probes and Prometheus), and each dependency a pod declares', () => {
    const policies = ofKind<NetworkPolicy>(docs, 'NetworkPolicy');
    const problems: string[] = [];
    const denyAll = policies.some(
      (p) =>
        Object.keys(p.spec?.podSelector?.matchLabels ?? {}).length === 0 &&
        !p.spec?.podSelector?.matchExpressions &&
        ['Ingress', 'Egress'].every((t) => p.spec?.policyTypes?.includes(t)) &&
        !p.spec?.ingress &&
        !p.spec?.egress,
    );
    if (!denyAll) problems.push('no default-deny policy (empty podSelector, Ingress and Egress, no rules)');
    const port = (address: string | undefined) => Number((address ?? '').split(':').pop());
    const dependencies: Record<string, number | undefined> = {
      'rescue/uses-redis': port(config.REDIS_ADDRESS),
      'rescue/uses-elasticsearch': port(config.ELASTICSEARCH_ADDRESS),
      'rescue/uses-llm': undefined,
    };
    const pods: [string, Record<string, string>][] = [
      ...deployments.map((d) => [idOf(d as Manifest), d.spec?.template.metadata?.labels ?? {}] as [string, Record<string, string>]),
      ...ofKind<CronJob>(docs, 'CronJob').map((c) => [idOf(c as Manifest), c.spec?.jobTemplate.spec?.template.metadata?.labels ?? {}] as [string, Record<string, string>]),
    ];
    // What a pod's config schema lets it dial decides which role labels it must carry.
    const roleOf: Record<string, string> = { REDIS_URL: 'rescue/uses-redis', ELASTICSEARCH_URL: 'rescue/uses-elasticsearch', LLM_BASE_URL: 'rescue/uses-llm' };
    for (const app of serviceApps()) {
      const labels = appDeployment(app)?.deployment.spec?.template.metadata?.labels ?? {};
      for (const [key, role] of Object.entries(roleOf))
        if (env.get(app)?.has(key) && labels[role] !== 'true') problems.push(`${app}: its schema has ${key} but its pods lack the label ${role}: "true", so no policy lets it out`);
    }
    for (const [id, labels] of pods) {
      const selecting = policies.filter((p) => selects(p.spec?.podSelector, labels));
      const ingress = selecting.filter((p) => (p.spec?.ingress ?? []).length > 0);
      const isApi = labels['app.kubernetes.io/name'] === 'rescue-api';
      if (isApi && ingress.length === 0) problems.push(`${id}: no policy lets traffic reach the API`);
      // Anything else accepts only its health port (probes, Prometheus), and only from named peers.
      for (const p of ingress) {
        for (const rule of p.spec?.ingress ?? []) {
          const ports = (rule.ports ?? []).map((x) => String(x.port));
          const from = rule.from ?? [];
          const healthOnly = ports.length > 0 && ports.every((port) => port === 'health' || port === 'http' || port === (config.HEALTH_PORT ?? '9100'));
          if (!isApi && (!healthOnly || from.length === 0))
            problems.push(
              `${id}: accepts ports [${ports.join(', ') || 'all'}] from ${from.length === 0 ? 'anywhere' : 'its peers'} (${p.metadata?.name}); only the API takes traffic, other pods only probes and scrapes on their health port`,
            );
        }
      }
      if (labels['rescue/app'] === 'true') {
        // Prometheus in the monitoring namespace must reach the metrics port.
        const metricsPort = isApi ? 'http' : 'health';
        const scraped = ingress.some((p) =>
          (p.spec?.ingress ?? []).some(
            (r) => (r.ports ?? []).some((x) => x.port === metricsPort) && (r.from ?? []).some((peer) => peer.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'] === 'monitoring'),
          ),
        );
        if (!scraped) problems.push(`${id}: the monitoring namespace cannot reach its ${metricsPort} port (/metrics)`);
      }
      const egressPorts = (p: NetworkPolicy) => (p.spec?.egress ?? []).flatMap((rule) => (rule.ports ?? []).map((x) => Number(x.port)));
      if (!selecting.some((p) => egressPorts(p).includes(53))) problems.push(`${id}: no DNS egress`);
      for (const [label, dependencyPort] of Object.entries(dependencies)) {
        if (labels[label] !== 'true') continue;
        const allowed = selecting.filter((p) => (p.spec?.egress ?? []).length > 0 && (dependencyPort === undefined || egressPorts(p).includes(dependencyPort)));
        if (allowed.length === 0) problems.push(`${id}: ${label} but no egress policy reaches it${dependencyPort ? ` on port ${dependencyPort}` : ''}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('lets every in-cluster dependency accept its clients (and Redis, KEDA)', () => {
    const policies = ofKind<NetworkPolicy>(docs, 'NetworkPolicy');
    const statefulSets = ofKind<StatefulSet>(docs, 'StatefulSet');
    const clients: [string, Record<string, string>][] = [
      ...deployments.map((d) => [idOf(d as Manifest), d.spec?.template.metadata?.labels ?? {}] as [string, Record<string, string>]),
      ...ofKind<CronJob>(docs, 'CronJob').map((c) => [idOf(c as Manifest), c.spec?.jobTemplate.spec?.template.metadata?.labels ?? {}] as [string, Record<string, string>]),
    ];
    const redisService = (config.REDIS_ADDRESS ?? '').split('.')[0];
    const problems: string[] = [];
    for (const set of statefulSets) {
      const podLabels = set.spec?.template.metadata?.labels ?? {};
      const ingressRules = policies.filter((p) => selects(p.spec?.podSelector, podLabels)).flatMap((p) => p.spec?.ingress ?? []);
      for (const [id, labels] of clients) {
        // A client: a pod one of whose egress policies names this StatefulSet's pods as a peer.
        const dials = policies.some(
          (p) => selects(p.spec?.podSelector, labels) && (p.spec?.egress ?? []).some((r) => (r.to ?? []).some((peer) => !peer.namespaceSelector && selects(peer.podSelector, podLabels))),
        );
        if (dials && !ingressRules.some((r) => (r.from ?? []).some((peer) => !peer.namespaceSelector && selects(peer.podSelector, labels))))
          problems.push(`${idOf(set as Manifest)} does not accept ${id}, which dials it`);
      }
      if (set.spec?.serviceName === redisService && !ingressRules.some((r) => (r.from ?? []).some((peer) => peer.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'] === 'keda')))
        problems.push(`${idOf(set as Manifest)} (Redis) does not accept KEDA's operator (namespace keda), which reads the queue lengths`);
    }
    expect(problems).toEqual([]);
  });

  it('points at Redis and Elasticsearch that exist in the overlay or outside the cluster', () => {
    const services = ofKind<Service>(docs, 'Service').map((s) => s.metadata?.name);
    const dangling = ['REDIS_ADDRESS', 'ELASTICSEARCH_ADDRESS']
      .map((key) => [key, (config[key] ?? '').split(':')[0]] as const)
      .filter(([, host]) => /\.svc(\.cluster\.local)?$/.test(host) && !services.includes(host.split('.')[0]))
      .map(([key, host]) => `${key}: ${host} is a Service of this namespace that the overlay does not define`);
    expect(dangling).toEqual([]);
  });

  it('rebuilds the KB on a schedule with the CLI, one build at a time', () => {
    const rebuilds = ofKind<CronJob>(docs, 'CronJob').filter((c) =>
      c.spec?.jobTemplate.spec?.template.spec?.containers.some((k) => {
        const argv = [...(k.command ?? []), ...(k.args ?? [])];
        return appOfCommand(argv) === 'cli' && argv.join(' ').includes('kb build') && argv.includes('--distributed') && k.resources?.limits !== undefined;
      }),
    );
    expect(rebuilds.map((c) => ({ name: c.metadata?.name, concurrencyPolicy: c.spec?.concurrencyPolicy }))).toEqual([{ name: expect.any(String), concurrencyPolicy: 'Forbid' }]);
  });

  it('runs every Rescue container from the one image', () => {
    const images = new Set([
      ...deployments.flatMap((d) => podOf(d)?.containers.map((c) => c.image) ?? []),
      ...ofKind<CronJob>(docs, 'CronJob').flatMap((c) => c.spec?.jobTemplate.spec?.template.spec?.containers.map((k) => k.image) ?? []),
    ]);
    expect(images.size).toBe(1);
  });
});
