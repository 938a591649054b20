import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Demo, startDemo } from '../../infra/local/demo.ts';
import { silentLog } from '../../infra/local/log.ts';
import { startTestRuntime, type TestRuntime } from '../helpers/local-runtime.ts';
import { requestLoop } from './connector-process.ts';
import { get } from './harness.ts';

/** `switchyard dev --demo --demo-replicas 2`, in process: each cluster's ingress URL is a balancer over two connectors. */
describe('the demo with two connectors per cluster', () => {
  let rt: TestRuntime;
  let demo: Demo;

  beforeAll(async () => {
    rt = await startTestRuntime();
    demo = await startDemo(rt, silentLog, { replicasPerCluster: 2 });
  });

  afterAll(async () => {
    await demo?.stop();
    await rt?.stop();
  });

  it('puts a balancer in front of two ready connectors per cluster', async () => {
    for (const id of ['east', 'west']) {
      const api = demo.clusters[id]!.services.api!;
      expect(api.replicas.map((r) => r.name)).toEqual([`${id}-connector-1`, `${id}-connector-2`]);
      expect(api.replicas.map((r) => r.ingressUrl)).not.toContain(api.ingressUrl);
      for (const r of api.replicas) expect((await fetch(`${r.adminUrl}/readyz`)).status).toBe(200);
      expect((await get(`${api.ingressUrl}/hello`)).text).toContain(`hello from ${id}`);
    }
  });

  it('keeps answering, 0 failed requests, while one replica drains and leaves', async () => {
    const api = demo.clusters.east!.services.api!;
    const loop = requestLoop(() => `${api.ingressUrl}/hello`, 4);
    await new Promise((r) => setTimeout(r, 200));
    const result = await demo.replicas.east![0]!.shutdown();
    expect(result.forced).toBe(false);
    const after = Date.now();
    await new Promise((r) => setTimeout(r, 300));
    const records = await loop.stop();
    expect(records.filter((r) => !r.ok)).toEqual([]);
    expect(records.filter((r) => r.start > after).length).toBeGreaterThan(0);
    await expect(fetch(`${api.replicas[0]!.adminUrl}/readyz`)).rejects.toThrow();
    expect((await fetch(`${api.replicas[1]!.adminUrl}/readyz`)).status).toBe(200);
  });
});
