import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { parseConnectorConfig } from '../../connector/config.ts';
import { PROJECT_ROOT } from '../../infra/constructs/handler-function.ts';

const FILE = join(PROJECT_ROOT, 'deploy/k8s/connector.yaml');
const TEXT = readFileSync(FILE, 'utf8');
const PLACEHOLDERS = [
  'SWITCHYARD_CLUSTER',
  'SWITCHYARD_CLUSTER_TOKEN',
  'SWITCHYARD_IMAGE',
  'SWITCHYARD_ROUTER_WS_URL',
];

// biome-ignore lint/suspicious/noExplicitAny: parsed Kubernetes objects, checked field by field below
type K8sObject = Record<string, any>;

/** `${NAME}` as it stands in the template. */
const placeholder = (name: string) => `\${${name}}`;

/** What `envsubst '${A} ${B}'` does: replace the named variables, nothing else. */
const substitute = (text: string, values: Record<string, string>) =>
  text.replace(/\$\{([A-Z_]+)\}/g, (whole, name: string) => values[name] ?? whole);

function objects(text: string): K8sObject[] {
  const docs = parseAllDocuments(text);
  for (const d of docs) expect(d.errors).toEqual([]);
  return docs.map((d) => d.toJS() as K8sObject);
}

describe('deploy/k8s/connector.yaml', () => {
  const [namespace, secret, configMap, deployment, pdb] = objects(TEXT) as [
    K8sObject,
    K8sObject,
    K8sObject,
    K8sObject,
    K8sObject,
  ];
  const pod = deployment.spec.template.spec;
  const container = pod.containers[0];
  const config = parseConnectorConfig(JSON.parse(configMap.data['connector.json']), 'connector.json');
  const podLabels = deployment.spec.template.metadata.labels;
  /** Does a label selector pick the connector's pods? */
  const selectsPods = (selector: K8sObject) =>
    Object.entries(selector.matchLabels).every(([k, v]) => podLabels[k] === v);

  it('holds a Namespace, a Secret, a ConfigMap, a Deployment and a PodDisruptionBudget, all in the namespace', () => {
    expect(objects(TEXT).map((o) => o.kind)).toEqual([
      'Namespace',
      'Secret',
      'ConfigMap',
      'Deployment',
      'PodDisruptionBudget',
    ]);
    for (const o of [secret, configMap, deployment, pdb])
      expect(o.metadata.namespace).toBe(namespace.metadata.name);
  });

  it('has only the documented placeholders', () => {
    expect([...new Set([...TEXT.matchAll(/\$\{([A-Z_]+)\}/g)].map((m) => m[1]))].sort()).toEqual(
      PLACEHOLDERS,
    );
    const filled = substitute(TEXT, Object.fromEntries(PLACEHOLDERS.map((p) => [p, `value-of-${p}`])));
    expect(filled).not.toContain('${');
    expect(objects(filled)[1]?.stringData.token).toBe('value-of-SWITCHYARD_CLUSTER_TOKEN');
  });

  it('holds no token: the Secret has a placeholder, and nothing looks like a token', () => {
    expect(secret.stringData).toEqual({ token: placeholder('SWITCHYARD_CLUSTER_TOKEN') });
    expect(secret.data).toBeUndefined();
    expect(TEXT).not.toMatch(/sy_(dev|cl)_[A-Za-z0-9_-]{10,}/);
  });

  it('passes the token only as a file mounted from the Secret, never as an argument or env', () => {
    expect(container.args).not.toContain('--token');
    // The only env is the pod's name (the replica id), from the downward API.
    expect(container.env.map((e: K8sObject) => e.name)).toEqual(['POD_NAME', 'SWITCHYARD_REPLICA_ID']);
    expect(JSON.stringify(container.env)).not.toMatch(/secret|token/i);
    expect(container.envFrom).toBeUndefined();
    const flag = container.args.indexOf('--token-file');
    const tokenFile: string = container.args[flag + 1];
    const mount = container.volumeMounts.find((m: K8sObject) => tokenFile.startsWith(`${m.mountPath}/`));
    expect(mount?.readOnly).toBe(true);
    const volume = pod.volumes.find((v: K8sObject) => v.name === mount?.name);
    expect(volume.secret.secretName).toBe(secret.metadata.name);
    expect(volume.secret.items).toEqual([
      { key: 'token', path: tokenFile.slice(mount.mountPath.length + 1) },
    ]);
    // Readable by the pod's group (fsGroup), not by others.
    expect(volume.secret.defaultMode & 0o007).toBe(0);
  });

  it('runs `switchyard connector` with the router, cluster and the mounted config', () => {
    expect(container.args.slice(0, 1)).toEqual(['connector']);
    expect(container.args).toEqual(
      expect.arrayContaining([
        '--router',
        placeholder('SWITCHYARD_ROUTER_WS_URL'),
        '--cluster',
        placeholder('SWITCHYARD_CLUSTER'),
      ]),
    );
    const configFile: string = container.args[container.args.indexOf('--config') + 1];
    const mount = container.volumeMounts.find((m: K8sObject) => configFile.startsWith(`${m.mountPath}/`));
    const volume = pod.volumes.find((v: K8sObject) => v.name === mount?.name);
    expect(volume.configMap.name).toBe(configMap.metadata.name);
    const key = configFile.slice(mount.mountPath.length + 1);
    expect(key).toBe('connector.json');
    // The sample config is one the connector accepts; the pod exposes its ingress and admin ports.
    expect(container.ports.map((p: K8sObject) => p.containerPort)).toEqual([
      ...config.services.map((s) => s.ingress.port),
      config.admin.port,
    ]);
  });

  it('sets resource requests and limits', () => {
    for (const kind of ['requests', 'limits']) {
      expect(container.resources[kind]).toEqual({
        cpu: expect.anything(),
        memory: expect.stringMatching(/Mi|Gi/),
      });
    }
  });

  it('runs as non-root, read-only, without privileges or a service account token', () => {
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(container.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
  });

  it('runs two replicas, rolled one at a time without ever going below two ready', () => {
    expect(deployment.spec.replicas).toBe(2);
    expect(deployment.spec.strategy).toEqual({
      type: 'RollingUpdate',
      rollingUpdate: { maxUnavailable: 0, maxSurge: 1 },
    });
  });

  it('keeps one replica through voluntary disruptions (a PodDisruptionBudget on the pods)', () => {
    expect(pdb.apiVersion).toBe('policy/v1');
    expect(pdb.spec.minAvailable).toBeGreaterThanOrEqual(1);
    expect(pdb.spec.minAvailable).toBeLessThan(deployment.spec.replicas);
    expect(selectsPods(pdb.spec.selector)).toBe(true);
  });

  it('probes readiness and liveness on the admin port, not the ingress', () => {
    const admin = container.ports.find((p: K8sObject) => p.name === 'admin');
    expect(admin.containerPort).toBe(config.admin.port);
    expect(config.services.map((s) => s.ingress.port)).not.toContain(config.admin.port);
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'admin' });
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'admin' });
    // Liveness must not kill a connector that is slow for a moment: several misses, well spaced.
    expect(
      container.livenessProbe.failureThreshold * container.livenessProbe.periodSeconds,
    ).toBeGreaterThanOrEqual(20);
  });

  it('lets Prometheus scrape /metrics on the admin port', () => {
    const annotations = deployment.spec.template.metadata.annotations;
    expect(annotations['prometheus.io/scrape']).toBe('true');
    expect(Number(annotations['prometheus.io/port'])).toBe(config.admin.port);
    expect(annotations['prometheus.io/path']).toBe('/metrics');
  });

  it('drains and exits within terminationGracePeriodSeconds', () => {
    const { drainMs, graceMs } = config.shutdown;
    const graceSeconds = pod.terminationGracePeriodSeconds;
    // The drain outlasts a readiness probe period, so endpoints learn before the listener closes.
    expect(drainMs).toBeGreaterThanOrEqual(container.readinessProbe.periodSeconds * 1000);
    expect(drainMs).toBeLessThan(graceMs);
    // The connector is gone before the kubelet's SIGKILL, with time to spare.
    expect(graceMs + 2_000).toBeLessThanOrEqual(graceSeconds * 1000);
    // A preStop hook would run before SIGTERM and eat into the same grace period.
    const preStopSeconds = container.lifecycle?.preStop?.sleep?.seconds ?? 0;
    expect(preStopSeconds * 1000 + graceMs).toBeLessThan(graceSeconds * 1000);
  });

  it('spreads the replicas over zones (and nodes)', () => {
    const spread = pod.topologySpreadConstraints as K8sObject[];
    const zone = spread.find((c) => c.topologyKey === 'topology.kubernetes.io/zone');
    expect(zone).toMatchObject({ maxSkew: 1 });
    expect(selectsPods(zone!.labelSelector)).toBe(true);
    expect(spread.some((c) => c.topologyKey === 'kubernetes.io/hostname')).toBe(true);
  });

  it('gives each replica its pod name as its replica id (downward API)', () => {
    const env = Object.fromEntries(container.env.map((e: K8sObject) => [e.name, e]));
    expect(env.POD_NAME.valueFrom).toEqual({ fieldRef: { fieldPath: 'metadata.name' } });
    expect(env.SWITCHYARD_REPLICA_ID.value).toBe('$(POD_NAME)');
  });
});
