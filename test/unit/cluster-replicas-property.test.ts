import type { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ApiGatewayMessenger } from '../../functions/lib/messenger.ts';
import { generateToken, registerToken } from '../../shared/auth/tokens.ts';
import { readReplicas } from '../../shared/clusters/registry.ts';
import { parseSettings } from '../../shared/config/settings.ts';
import { parseTopology } from '../../shared/config/topology.ts';
import { Relay } from '../../shared/relay/relay.ts';
import { createSession, onChildAnswer } from '../../shared/sessions/lifecycle.ts';
import { readSession } from '../../shared/sessions/sessions.ts';
import { MemoryStore } from '../../shared/store/memory/memory-store.ts';
import { RecordingFeatures } from '../helpers/recording-features.ts';
import { sdkConnections } from '../helpers/sdk-connections.ts';

/**
 * The router's replica set under connect, hello and disconnect races. Every store call waits for
 * fast-check's scheduler, so the calls of concurrent $connect / hello / $disconnect events (and
 * the connectors' child.ready answers) interleave in every order it tries. What must hold once
 * everything settled, whatever the order:
 * - each replica is registered on its last connection, unless that connection closed;
 * - the cluster's child of a live session is ready while a replica is live, disconnected when none is.
 */
const topology = parseTopology({
  region: 'us-east-1',
  clusters: [{ id: 'east', roles: ['primary', 'workload', 'default'] }],
});

class ScheduledStore extends MemoryStore {
  scheduler?: fc.Scheduler;
  private async turn(label: string): Promise<void> {
    if (this.scheduler) await this.scheduler.schedule(Promise.resolve(), label);
  }
  override async get(...a: Parameters<MemoryStore['get']>) {
    await this.turn(`get ${a[0].sk}`);
    return super.get(...a);
  }
  override async put(...a: Parameters<MemoryStore['put']>) {
    await this.turn(`put ${a[0].sk}`);
    return super.put(...a);
  }
  override async update(...a: Parameters<MemoryStore['update']>) {
    await this.turn(`update ${a[0].sk}`);
    return super.update(...a);
  }
  override async delete(...a: Parameters<MemoryStore['delete']>) {
    await this.turn(`delete ${a[0].sk}`);
    return super.delete(...a);
  }
  override async query(...a: Parameters<MemoryStore['query']>) {
    await this.turn(`query ${a[0]}`);
    return super.query(...a);
  }
}

/** Per replica: its connections in order, and for each whether it closes (else it is left open). */
const plans = fc.array(fc.array(fc.boolean(), { minLength: 1, maxLength: 3 }), {
  minLength: 2,
  maxLength: 3,
});

describe('router replica set (property, scheduled races)', () => {
  it('ends with each replica on its last open connection and the child ready iff a replica is live', async () => {
    const seed = Number(process.env.FC_SEED ?? 20261202);
    const numRuns = Number(process.env.FC_RUNS ?? 120);
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), plans, async (s, replicaPlans) => {
        const store = new ScheduledStore();
        const open = new Set<string>();
        const answering = new Set<string>();
        const tasks: Promise<unknown>[] = [];
        const client = {
          send: async (command: { input: { ConnectionId: string; Data?: Uint8Array } }) => {
            const id = command.input.ConnectionId;
            if (!open.has(id)) throw Object.assign(new Error('gone'), { name: 'GoneException' });
            const msg = command.input.Data ? JSON.parse(Buffer.from(command.input.Data).toString()) : {};
            // A connector answers a child.create on its live connection; a half-open one swallows it.
            if (msg.type === 'child.create' && answering.has(id)) {
              tasks.push(
                relay.message(
                  id,
                  JSON.stringify({
                    v: 1,
                    type: 'child.ready',
                    sessionId: msg.sessionId,
                    childId: msg.childId,
                  }),
                ),
              );
            }
            return {};
          },
        } as unknown as ApiGatewayManagementApiClient;
        let clock = 1_700_000_000_000;
        const now = () => clock++;
        const relay = new Relay({
          store,
          topology,
          settings: parseSettings({}),
          messenger: new ApiGatewayMessenger(sdkConnections(client), store, now),
          now,
          features: new RecordingFeatures(),
        });
        const token = generateToken('cluster');
        await registerToken(store, token, { type: 'cluster', clusterId: 'east' });

        const connect = async (connectionId: string, replica: string) => {
          const r = await relay.connect({ connectionId, token, query: { cluster: 'east', replica } });
          expect(r.ok).toBe(true);
          open.add(connectionId);
          answering.add(connectionId);
        };
        // Before the races: replica r0 on its first connection, and a ready session.
        await connect('r0-c0', 'r0');
        const session = await createSession(relay.deps, 'developer:alice', { service: 'api' } as never);
        await onChildAnswer(relay.deps, 'east', { sessionId: session.id, ready: true });

        store.scheduler = s;
        const lifecycle = async (r: number, closes: boolean[]) => {
          for (let i = 0; i < closes.length; i++) {
            const id = `r${r}-c${i}`;
            if (id !== 'r0-c0') await connect(id, `r${r}`);
            tasks.push(relay.message(id, JSON.stringify({ v: 1, type: 'hello', services: ['api'] })));
            if (closes[i]) {
              open.delete(id);
              answering.delete(id);
              tasks.push(relay.disconnect(id));
            } else {
              // Left open when the replica dials again: half-open, it swallows what it gets.
              answering.delete(id);
              if (i === closes.length - 1) answering.add(id);
            }
          }
        };
        replicaPlans.forEach((closes, r) => {
          tasks.push(lifecycle(r, closes));
        });
        for (let settled = -1; settled !== tasks.length; ) {
          settled = tasks.length;
          await s.waitFor(Promise.all(tasks));
        }
        store.scheduler = undefined;

        const expected = replicaPlans
          .map((closes, r) => ({ r, last: closes.length - 1, closed: closes[closes.length - 1] }))
          .filter((p) => !p.closed)
          .map((p) => [`r${p.r}`, `r${p.r}-c${p.last}`]);
        const live = (await readReplicas(store, 'east')).map((x) => [x.replicaId, x.connectionId]);
        expect(live.sort()).toEqual(expected.sort());
        const child = (await readSession(store, session.id))?.clusters.east;
        expect(child?.state).toBe(expected.length > 0 ? 'ready' : 'disconnected');
      }),
      { seed, numRuns },
    );
  }, 60_000);
});
