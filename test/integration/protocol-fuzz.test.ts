import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseConnectorConfig } from '../../connector/config.ts';
import { resetDeps } from '../../functions/lib/deps.ts';
import { ENV } from '../../functions/lib/env.ts';
import { sessionDeps } from '../../functions/lib/session-deps.ts';
import { handler, type WsEvent } from '../../functions/ws/index.ts';
import { startDynamoDb } from '../../infra/local/dynamodb.ts';
import { setEnv } from '../../infra/local/function-env.ts';
import { generateToken, registerToken } from '../../shared/auth/tokens.ts';
import { parseMessage } from '../../shared/protocol/codec.ts';
import type { Message } from '../../shared/protocol/messages.ts';
import { isProtocolError } from '../../shared/protocol/protocol-error.ts';
import { STATEFUL_REQUEST_TYPES } from '../../shared/protocol/types.ts';
import { createSession, onChildAnswer } from '../../shared/sessions/lifecycle.ts';
import { type HostileCase, hostileText, KNOWN_HOSTILE_FRAMES } from '../helpers/hostile-messages.ts';
import { type OfflineConnector, offlineConnector } from '../helpers/offline-connector.ts';

/**
 * Property-based protocol fuzz: hostile texts of every message type, from a developer's
 * connection and from a cluster's to the router's real ws handler (in-process, on the embedded
 * DynamoDB), and from the router to a connector's real message handler. Each side must answer
 * every text it cannot accept with a well-formed error frame of the code the protocol gives it,
 * send nothing that is not a valid message, never throw, and keep serving other connections.
 *
 * A fixed seed in CI; `FUZZ_RUNS=n` (and `FUZZ_SEED=s`) for more, the seed printed.
 */
const SEED = Number(process.env.FUZZ_SEED ?? 12_2026);
const RUNS = Number(process.env.FUZZ_RUNS ?? 150);
if (process.env.FUZZ_RUNS || process.env.FUZZ_SEED) {
  process.stderr.write(`protocol fuzz: seed ${SEED}, ${RUNS} runs per property\n`);
}
const FC = { seed: SEED, numRuns: RUNS, endOnFailure: true } as const;
/** About 10 ms a run on a loaded machine; more runs, more time. */
const PROPERTY_TIMEOUT_MS = Math.max(30_000, RUNS * 100);

const TOPOLOGY = {
  region: 'us-east-1',
  clusters: [
    { id: 'east', roles: ['primary', 'workload', 'default'] },
    { id: 'west', roles: ['workload'] },
  ],
};

/** What the protocol says the receiver answers to a text: nothing to refuse, or the refusal's code. */
function expectedRefusal(text: string, maxBytes?: number): string | undefined {
  try {
    parseMessage(text, maxBytes === undefined ? {} : { maxBytes });
    return undefined;
  } catch (err) {
    if (!isProtocolError(err)) throw err;
    return err.code;
  }
}

/** Every frame sent must be a message this protocol accepts. */
function assertValidFrames(frames: string[], label: string): Message[] {
  return frames.map((f) => {
    try {
      return parseMessage(f);
    } catch (err) {
      throw new Error(`${label}: sent an invalid frame (${(err as Error).message}): ${f.slice(0, 300)}`);
    }
  });
}

/**
 * API Gateway's `@connections` endpoint for the router's real management client: records what
 * is posted to each live connection, answers 410 Gone for any other.
 */
class ConnectionsEndpoint {
  readonly live = new Set<string>();
  readonly posted = new Map<string, string[]>();
  server!: Server;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => {
        const id = decodeURIComponent((req.url ?? '').split('/@connections/')[1] ?? '');
        if (!this.live.has(id)) {
          res.writeHead(410, { 'content-type': 'application/json', 'x-amzn-errortype': 'GoneException' });
          res.end(JSON.stringify({ message: 'Gone' }));
          return;
        }
        if (req.method === 'POST') this.posted.set(id, [...(this.posted.get(id) ?? []), body]);
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', () => r()));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  take(): Map<string, string[]> {
    const out = new Map(this.posted);
    this.posted.clear();
    return out;
  }
}

function wsEvent(routeKey: string, connectionId: string, extra: Partial<WsEvent> = {}): WsEvent {
  return {
    requestContext: { routeKey, connectionId, eventType: 'MESSAGE' },
    isBase64Encoded: false,
    ...extra,
  } as unknown as WsEvent;
}

describe('protocol fuzz: the router (ws handler)', () => {
  const endpoint = new ConnectionsEndpoint();
  let dynamo: Awaited<ReturnType<typeof startDynamoDb>>;
  let restoreEnv: () => void;
  let alice: string;
  let bob: string;
  let errors: ReturnType<typeof vi.spyOn>;
  let dynamoStopped = false;

  async function connect(connectionId: string, token: string, query: Record<string, string>): Promise<void> {
    endpoint.live.add(connectionId);
    const result = await handler(
      wsEvent('$connect', connectionId, {
        headers: { authorization: `Bearer ${token}` },
        queryStringParameters: query,
      } as Partial<WsEvent>),
    );
    expect(result).toMatchObject({ statusCode: 200 });
  }

  const send = (connectionId: string, body: string) => handler(wsEvent('$default', connectionId, { body }));

  beforeAll(async () => {
    await endpoint.start();
    const tableName = 'fuzz';
    dynamo = await startDynamoDb({ path: undefined, region: 'us-east-1', tableName });
    restoreEnv = setEnv({
      [ENV.table]: tableName,
      [ENV.topology]: JSON.stringify(TOPOLOGY),
      [ENV.wsManagementEndpoint]: endpoint.url,
      [ENV.dynamodbEndpoint]: dynamo.endpoint,
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_REGION: 'us-east-1',
    });
    resetDeps();
    const { deps } = sessionDeps();
    const tokens = {
      alice: generateToken('developer'),
      bob: generateToken('developer'),
      east: generateToken('cluster'),
      west: generateToken('cluster'),
    };
    await registerToken(deps.store, tokens.alice, { type: 'developer', id: 'alice' });
    await registerToken(deps.store, tokens.bob, { type: 'developer', id: 'bob' });
    await registerToken(deps.store, tokens.east, { type: 'cluster', clusterId: 'east' });
    await registerToken(deps.store, tokens.west, { type: 'cluster', clusterId: 'west' });
    await connect('east-1', tokens.east, { cluster: 'east' });
    await connect('west-1', tokens.west, { cluster: 'west' });
    for (const c of ['east-1', 'west-1'])
      await send(c, JSON.stringify({ v: 1, type: 'hello', services: ['api'] }));
    const ready = async (owner: string) => {
      const s = await createSession(deps, owner, { service: 'api' } as never);
      for (const c of ['east', 'west']) await onChildAnswer(deps, c, { sessionId: s.id, ready: true });
      return s.id;
    };
    alice = await ready('developer:alice');
    bob = await ready('developer:bob');
    await connect('alice-1', tokens.alice, { session: alice });
    await connect('bob-1', tokens.bob, { session: bob });
    endpoint.take();
    errors = vi.spyOn(console, 'error');
  });

  afterAll(async () => {
    errors?.mockRestore();
    restoreEnv?.();
    resetDeps();
    if (!dynamoStopped) await dynamo?.stop();
    await new Promise((r) => endpoint.server?.close(r));
  });

  /** One text from `from`: the handler must not throw, must post only valid frames, must refuse what it cannot take. */
  async function check(from: string, c: HostileCase): Promise<void> {
    const refusal = expectedRefusal(c.text);
    errors.mockClear();
    const result = await send(from, c.text);
    expect(result, c.label).toEqual({ statusCode: 200 });
    const posted = endpoint.take();
    for (const [to, frames] of posted) {
      const messages = assertValidFrames(frames, `${c.label} -> ${to}`);
      const internal = messages.find((m) => m.type === 'error' && m.code === 'internal');
      expect(internal, `${c.label}: an internal error reached ${to}`).toBeUndefined();
    }
    if (refusal) {
      const answers = assertValidFrames(posted.get(from) ?? [], c.label);
      expect(
        answers.some((m) => m.type === 'error' && m.code === refusal),
        `${c.label}: answered ${JSON.stringify(answers).slice(0, 300)}, expected an error ${refusal}`,
      ).toBe(true);
    }
    expect(errors, `${c.label}: the handler logged a failure`).not.toHaveBeenCalled();
  }

  /** Bob's session still works both ways: a stateful request reaches east, east's answer reaches Bob. */
  async function othersStillServed(): Promise<void> {
    await send('bob-1', JSON.stringify({ v: 1, type: 'env.get', reqId: 'still', seq: 1, service: 'api' }));
    const toEast = assertValidFrames(endpoint.take().get('east-1') ?? [], 'bob env.get');
    expect(toEast).toContainEqual(
      expect.objectContaining({ type: 'env.get', reqId: 'still', sessionId: bob }),
    );
    await send(
      'east-1',
      JSON.stringify({ v: 1, type: 'env.result', sessionId: bob, reqId: 'still', seq: 1, env: { A: '1' } }),
    );
    const toBob = assertValidFrames(endpoint.take().get('bob-1') ?? [], 'east env.result');
    expect(toBob).toContainEqual(
      expect.objectContaining({ type: 'env.result', reqId: 'still', cluster: 'east' }),
    );
  }

  it.each(KNOWN_HOSTILE_FRAMES)(
    'answers "$label" with an error frame, as developer and as cluster',
    async (c) => {
      await check('alice-1', c);
      await check('east-1', c);
      await othersStillServed();
    },
  );

  it(
    'answers every hostile text from a developer with a valid frame; other sessions keep working',
    async () => {
      // On the client's side of the router: cluster-assigned ids carry this topology's cluster.
      const asDeveloper = (m: Record<string, unknown>) => {
        for (const k of ['requestId', 'subId', 'msgId'] as const) {
          if (typeof m[k] === 'string') m[k] = (m[k] as string).replace(/^[a-z-]+:/, 'east:');
        }
        delete m.cluster;
        return m;
      };
      await fc.assert(
        fc.asyncProperty(hostileText(asDeveloper), (c) => check('alice-1', c)),
        FC,
      );
      await othersStillServed();
    },
    PROPERTY_TIMEOUT_MS,
  );

  it(
    'answers every hostile text from a connector with a valid frame; other sessions keep working',
    async () => {
      // On the cluster's side: plain ids, and the session of the developer it serves.
      const asCluster = (m: Record<string, unknown>) => {
        for (const k of ['requestId', 'subId'] as const) {
          if (typeof m[k] === 'string') m[k] = (m[k] as string).replace(/^[a-z-]+:/, '');
        }
        m.sessionId = alice;
        delete m.cluster;
        // A valid goodbye ends the connector's connection on purpose (the lifecycle tests cover
        // it); this property needs the connection to stay, so its frames are sent as pings.
        if (m.type === 'goodbye') m.type = 'ping';
        return m;
      };
      await fc.assert(
        fc.asyncProperty(hostileText(asCluster), (c) => check('east-1', c)),
        FC,
      );
      await othersStillServed();
    },
    PROPERTY_TIMEOUT_MS,
  );
  // Last: it stops the table.
  it('answers a failure nobody foresaw with internal, and logs it under the same incident id', async () => {
    // Prepare: a connection this instance has not seen, and a table that no longer answers
    endpoint.live.add('ghost-1');
    await dynamo.stop();
    dynamoStopped = true;
    errors.mockClear();
    errors.mockImplementation(() => {});

    // Act
    const result = await send('ghost-1', JSON.stringify({ v: 1, type: 'ping' }));

    // Assess: a well-formed answer, not a thrown error (API Gateway's bare `Internal server error`)
    expect(result).toEqual({ statusCode: 200 });
    const [answer] = assertValidFrames(endpoint.take().get('ghost-1') ?? [], 'ghost ping') as {
      type: string;
      code?: string;
      message?: string;
    }[];
    expect(answer).toMatchObject({ type: 'error', code: 'internal' });
    const incident = /incident ([0-9a-f]+)/.exec(answer!.message!)![1]!;
    expect(errors).toHaveBeenCalledTimes(1);
    expect(String(errors.mock.calls[0]![0])).toContain(`"incident":"${incident}"`);
  });
});

describe('protocol fuzz: the connector (message handler)', () => {
  let dir: string;
  let peer: OfflineConnector;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'switchyard-fuzz-'));
    writeFileSync(join(dir, 'config.yaml'), 'port: 8080\n');
    peer = await offlineConnector(
      parseConnectorConfig({
        services: [
          {
            name: 'api',
            ingress: { port: 0, host: '127.0.0.1' },
            upstream: 'http://127.0.0.1:9',
            env: { GREETING: 'hello' },
            files: [dir],
          },
        ],
        outgoing: { allow: ['127.0.0.1:9'] },
        requestDeadlineMs: 200,
      }),
    );
  });

  afterAll(async () => {
    await peer?.connector.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** What the router would hand the connector: ids plain, the session set, names that resolve here. */
  const fromRouter = (m: Record<string, unknown>) => {
    for (const k of ['requestId', 'subId'] as const) {
      if (typeof m[k] === 'string') m[k] = (m[k] as string).replace(/^[a-z-]+:/, '');
    }
    m.sessionId = 'fuzz-session';
    if (typeof m.service === 'string') m.service = 'api';
    if (typeof m.path === 'string') m.path = join(dir, 'config.yaml');
    // No lookup leaves the machine: a name the fuzzer did not touch stays a loopback address.
    if (typeof m.host === 'string' && /^[a-z.-]+$/.test(m.host)) m.host = '127.0.0.1';
    return m;
  };

  async function check(c: HostileCase): Promise<void> {
    // The connector's peer takes texts up to 256 KiB (the router may have grown a message).
    const refusal = expectedRefusal(c.text, 256 * 1024);
    peer.sent.length = 0;
    peer.logged.length = 0;
    await peer.receive(c.text);
    const answers = assertValidFrames(peer.sent, c.label);
    const errorsLogged = peer.logged.filter((l) => l.level === 'ERROR');
    expect(errorsLogged, `${c.label}: the connector logged a failure`).toEqual([]);
    if (refusal) {
      expect(
        answers.some((m) => m.type === 'error' && m.code === refusal),
        `${c.label}: answered ${JSON.stringify(answers).slice(0, 300)}, expected an error ${refusal}`,
      ).toBe(true);
      return;
    }
    const msg = parseMessage(c.text, { maxBytes: 256 * 1024 }) as Message & { reqId?: string };
    if ((STATEFUL_REQUEST_TYPES as readonly string[]).includes(msg.type)) {
      expect(
        answers.some((m) => (m as { reqId?: string }).reqId === msg.reqId),
        `${c.label}: no answer for ${msg.type} ${msg.reqId}`,
      ).toBe(true);
    }
  }

  it.each(KNOWN_HOSTILE_FRAMES)('answers "$label" with an error frame', (c) => check(c));

  it(
    'answers every hostile text from the router with a valid frame, and keeps serving',
    async () => {
      await fc.assert(
        fc.asyncProperty(hostileText(fromRouter), (c) => check(c)),
        FC,
      );
      peer.sent.length = 0;
      await peer.receive(
        JSON.stringify({ v: 1, type: 'env.get', sessionId: 's', reqId: 'after', seq: 1, service: 'api' }),
      );
      expect(assertValidFrames(peer.sent, 'env.get after the fuzz')).toContainEqual(
        expect.objectContaining({ type: 'env.result', reqId: 'after', env: { GREETING: 'hello' } }),
      );
    },
    PROPERTY_TIMEOUT_MS,
  );
});
