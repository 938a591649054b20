import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const ROOT = join(import.meta.dirname, '../..');

/** The Dockerfile's stages, each as its instruction lines (no daemon here to build it). */
function stages(): { from: string; lines: string[] }[] {
  const text = readFileSync(join(ROOT, 'deploy/Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  const out: { from: string; lines: string[] }[] = [];
  for (const line of text.split('\n').map((l) => l.trim())) {
    if (!line || line.startsWith('#')) continue;
    if (line.startsWith('FROM ')) out.push({ from: line, lines: [] });
    else out.at(-1)?.lines.push(line);
  }
  return out;
}

interface Deployment {
  kind: string;
  spec: {
    template: {
      spec: {
        containers: {
          securityContext: { readOnlyRootFilesystem?: boolean };
          volumeMounts: { name: string; readOnly?: boolean }[];
        }[];
        volumes: { name: string; emptyDir?: unknown }[];
      };
    };
  };
}

describe('deploy/Dockerfile', () => {
  it('builds the bundle in one stage and ships only the built package in the next', () => {
    const [build, runtime] = stages();
    expect(stages()).toHaveLength(2);
    expect(build!.from).toMatch(/ AS build$/);
    expect(build!.lines.some((l) => /^RUN npm run build\b/.test(l))).toBe(true);
    const copies = runtime!.lines.filter((l) => l.startsWith('COPY'));
    expect(copies).toEqual([expect.stringMatching(/^COPY --from=build .*\/src\/dist\/package \.\/$/)]);
    // No sources, so bin/switchyard.js runs the bundle; no loader, no full install.
    expect(runtime!.lines.join('\n')).not.toMatch(/tsx|npm ci|COPY (cli|shared|connector)/);
    expect(runtime!.lines).toContain('USER 10001:10001');
    expect(runtime!.lines.at(-1)).toBe('ENTRYPOINT ["node", "/app/bin/switchyard.js"]');
  });

  it('runs in Kubernetes with a read-only root and nothing writable mounted', () => {
    const docs = readFileSync(join(ROOT, 'deploy/k8s/connector.yaml'), 'utf8')
      .split(/^---$/m)
      .map((d) => parse(d) as Deployment | null);
    const pod = docs.find((d) => d?.kind === 'Deployment')!.spec.template.spec;
    const container = pod.containers[0]!;
    expect(container.securityContext.readOnlyRootFilesystem).toBe(true);
    for (const mount of container.volumeMounts) expect(mount.readOnly, mount.name).toBe(true);
    expect(pod.volumes.filter((v) => v.emptyDir)).toEqual([]);
  });
});
