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
  const [namespace, secret, configMap, deployment] = objects(TEXT) as [
    K8sObject,
    K8sObject,
    K8sObject,
    K8sObject,
  ];
  const pod = deployment.spec.template.spec;
  const container = pod.containers[0];

  it('holds a Namespace, a Secret, a ConfigMap and a Deployment, all in the namespace', () => {
    expect(objects(TEXT).map((o) => o.kind)).toEqual(['Namespace', 'Secret', 'ConfigMap', 'Deployment']);
    for (const o of [secret, configMap, deployment])
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
    expect(container.env ?? []).toEqual([]);
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
    // The sample config is one the connector accepts.
    const config = parseConnectorConfig(JSON.parse(configMap.data[key]), 'connector.json');
    expect(container.ports.map((p: K8sObject) => p.containerPort)).toEqual(
      config.services.map((s) => s.ingress.port),
    );
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

  it('runs one connector at a time', () => {
    expect(deployment.spec.replicas).toBe(1);
    expect(deployment.spec.strategy).toEqual({ type: 'Recreate' });
  });
});
