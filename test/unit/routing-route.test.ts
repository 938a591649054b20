import { describe, expect, it } from 'vitest';
import { parseTopology, type Topology } from '../../shared/config/topology.ts';
import { encodeFrames, Reassembler } from '../../shared/protocol/chunking.ts';
import { encodeMessage, parseMessage, parseMessageObject } from '../../shared/protocol/codec.ts';
import { EXAMPLES } from '../../shared/protocol/examples.ts';
import { API_GATEWAY_FRAME_BYTES } from '../../shared/protocol/limits.ts';
import type { CarriedMessage, ChunkMessage, Message } from '../../shared/protocol/messages.ts';
import { CARRIED_TYPES, type CarriedType } from '../../shared/protocol/types.ts';
import { clusterTargets, type From, type RouteDecision, route } from '../../shared/routing/route.ts';
import type { RoutingErrorCode } from '../../shared/routing/routing-error.ts';

// A management-only hub, a default cluster that runs no workload, and two workload clusters.
const topology: Topology = parseTopology({
  managementOnly: true,
  clusters: [
    { id: 'hub', roles: ['primary'] },
    { id: 'store', roles: ['default'] },
    { id: 'eu-west', roles: ['workload'] },
    { id: 'us-east', roles: ['workload'] },
  ],
});

const SESSION = 'ses-1';
const client: From = { kind: 'client', sessionId: SESSION };
const cluster = (clusterId: string): From => ({ kind: 'cluster', clusterId });

/** A message as a client sends it: the example, plus overrides (`undefined` removes a field). */
function fromClient(type: CarriedType, over: Record<string, unknown> = {}): Message {
  const msg: Record<string, unknown> = { ...EXAMPLES[type] };
  delete msg.cluster;
  if (type.startsWith('child.') || type === 'session.status') msg.sessionId = SESSION;
  return clean({ ...msg, ...over });
}

/** A message as a connector sends it: its session named, its own ids not namespaced. */
function fromCluster(type: CarriedType, over: Record<string, unknown> = {}): Message {
  const msg: Record<string, unknown> = { ...EXAMPLES[type], sessionId: SESSION };
  delete msg.cluster;
  if (typeof msg.requestId === 'string') msg.requestId = msg.requestId.split(':').at(-1);
  return clean({ ...msg, ...over });
}

function clean(msg: Record<string, unknown>): Message {
  for (const key of Object.keys(msg)) if (msg[key] === undefined) delete msg[key];
  return parseMessageObject(msg); // every case is a valid message
}

type Expected =
  | { to: 'default' | 'router'; fields?: Record<string, unknown> }
  | { to: 'workloads' | 'all-clusters'; clusters: string[]; fields?: Record<string, unknown> }
  | { to: 'cluster'; cluster: string; fields?: Record<string, unknown> }
  | { to: 'client'; fields?: Record<string, unknown> }
  | { to: 'reject'; code: RoutingErrorCode };

interface Case {
  name?: string;
  msg: Message;
  from: From;
  expected: Expected;
}

const toDefault: Expected = { to: 'default', fields: { sessionId: SESSION } };
const toWorkloads: Expected = {
  to: 'workloads',
  clusters: ['eu-west', 'us-east'],
  fields: { sessionId: SESSION },
};
const reject = (code: RoutingErrorCode): Expected => ({ to: 'reject', code });
const toClientFrom = (c: string, fields: Record<string, unknown> = {}): Expected => ({
  to: 'client',
  fields: { sessionId: SESSION, cluster: c, ...fields },
});

const STATEFUL_REQUESTS = [
  'env.get',
  'file.read',
  'file.stat',
  'file.list',
  'dns.resolve',
  'outgoing.connect',
] as const;
const STATEFUL_REPLIES = ['env.result', 'file.result', 'dns.result', 'outgoing.connected'] as const;

const cases: Case[] = [
  // ---- stateful: client -> default cluster only; replies from the default cluster only ----
  ...STATEFUL_REQUESTS.flatMap((t): Case[] => [
    { msg: fromClient(t), from: client, expected: toDefault },
    { msg: fromCluster(t), from: cluster('store'), expected: reject('wrong_direction') },
  ]),
  ...STATEFUL_REPLIES.flatMap((t): Case[] => [
    { msg: fromClient(t), from: client, expected: reject('wrong_direction') },
    {
      msg: fromCluster(t),
      from: cluster('store'),
      expected: toClientFrom('store', { reqId: EXAMPLES[t].reqId }),
    },
    {
      name: 'from a workload cluster',
      msg: fromCluster(t),
      from: cluster('eu-west'),
      expected: reject('not_default_cluster'),
    },
    {
      name: 'without sessionId',
      msg: fromCluster(t, { sessionId: undefined }),
      from: cluster('store'),
      expected: reject('missing_session'),
    },
  ]),
  // ---- outgoing tunnel: client <-> default cluster, connId not namespaced ----
  ...(['outgoing.data', 'outgoing.close'] as const).flatMap((t): Case[] => [
    {
      msg: fromClient(t),
      from: client,
      expected: { to: 'default', fields: { sessionId: SESSION, connId: 'c1' } },
    },
    { msg: fromCluster(t), from: cluster('store'), expected: toClientFrom('store', { connId: 'c1' }) },
    {
      name: 'from a workload cluster',
      msg: fromCluster(t),
      from: cluster('us-east'),
      expected: reject('not_default_cluster'),
    },
  ]),
  // ---- traffic ----
  { msg: fromClient('subscribe'), from: client, expected: toWorkloads },
  { msg: fromCluster('subscribe'), from: cluster('eu-west'), expected: reject('wrong_direction') },
  { name: 'plain subId', msg: fromClient('unsubscribe'), from: client, expected: toWorkloads },
  {
    name: 'subId namespaced to one cluster',
    msg: fromClient('unsubscribe', { subId: 'us-east:s1' }),
    from: client,
    expected: { to: 'cluster', cluster: 'us-east', fields: { subId: 's1', sessionId: SESSION } },
  },
  {
    name: 'subId namespaced to the default (non-workload) cluster',
    msg: fromClient('unsubscribe', { subId: 'store:s1' }),
    from: client,
    expected: reject('unknown_cluster'),
  },
  {
    name: 'subId with a malformed namespace',
    msg: fromClient('unsubscribe', { subId: ':s1' }),
    from: client,
    expected: reject('invalid_id'),
  },
  { msg: fromCluster('unsubscribe'), from: cluster('eu-west'), expected: reject('wrong_direction') },
  { msg: fromClient('subscribed'), from: client, expected: reject('wrong_direction') },
  {
    name: 'one cluster answers: the router aggregates',
    msg: fromCluster('subscribed', { clusters: undefined, failed: undefined }),
    from: cluster('eu-west'),
    expected: { to: 'router', fields: { sessionId: SESSION, subId: 's1' } },
  },
  {
    name: 'from the default (non-workload) cluster',
    msg: fromCluster('subscribed'),
    from: cluster('store'),
    expected: reject('not_workload_cluster'),
  },
  {
    name: 'without sessionId',
    msg: fromCluster('subscribed', { sessionId: undefined }),
    from: cluster('eu-west'),
    expected: reject('missing_session'),
  },
  { msg: fromClient('request'), from: client, expected: reject('wrong_direction') },
  {
    name: 'requestId namespaced with the sender',
    msg: fromCluster('request'),
    from: cluster('us-east'),
    expected: toClientFrom('us-east', { requestId: 'us-east:41' }),
  },
  {
    name: 'the same requestId from another cluster stays distinct',
    msg: fromCluster('request'),
    from: cluster('eu-west'),
    expected: toClientFrom('eu-west', { requestId: 'eu-west:41' }),
  },
  {
    name: 'a cluster-assigned id containing ":" is namespaced all the same',
    msg: fromCluster('request', { requestId: 'pod-a:7' }),
    from: cluster('eu-west'),
    expected: toClientFrom('eu-west', { requestId: 'eu-west:pod-a:7' }),
  },
  {
    name: 'a requestId too long to namespace',
    msg: fromCluster('request', { requestId: 'r'.repeat(129) }),
    from: cluster('eu-west'),
    expected: reject('invalid_id'),
  },
  {
    name: 'from the default cluster',
    msg: fromCluster('request'),
    from: cluster('store'),
    expected: reject('not_workload_cluster'),
  },
  {
    name: 'to the cluster named in requestId, un-namespaced',
    msg: fromClient('response'),
    from: client,
    expected: { to: 'cluster', cluster: 'us-east', fields: { requestId: '41', sessionId: SESSION } },
  },
  {
    name: 'requestId without namespace',
    msg: fromClient('response', { requestId: '41' }),
    from: client,
    expected: reject('invalid_id'),
  },
  {
    name: 'requestId naming a cluster not in the topology',
    msg: fromClient('response', { requestId: 'mars:41' }),
    from: client,
    expected: reject('unknown_cluster'),
  },
  { msg: fromCluster('response'), from: cluster('us-east'), expected: reject('wrong_direction') },
  ...(['data', 'close'] as const).flatMap((t): Case[] => [
    {
      msg: fromClient(t),
      from: client,
      expected: { to: 'cluster', cluster: 'us-east', fields: { requestId: '42', sessionId: SESSION } },
    },
    {
      msg: fromCluster(t),
      from: cluster('us-east'),
      expected: toClientFrom('us-east', { requestId: 'us-east:42' }),
    },
    {
      name: 'from the default cluster',
      msg: fromCluster(t),
      from: cluster('store'),
      expected: reject('not_workload_cluster'),
    },
    {
      name: 'requestId naming the wrong kind of cluster',
      msg: fromClient(t, { requestId: 'store:42' }),
      from: client,
      expected: reject('unknown_cluster'),
    },
  ]),
  // ---- control ----
  { msg: fromClient('hello'), from: client, expected: reject('wrong_direction') },
  {
    name: 'a connector announces itself',
    msg: fromCluster('hello', { sessionId: undefined }),
    from: cluster('us-east'),
    expected: { to: 'router', fields: { services: ['orders', 'payments'] } },
  },
  { msg: fromClient('goodbye'), from: client, expected: reject('wrong_direction') },
  {
    name: 'a connector replica says it is leaving',
    msg: fromCluster('goodbye', { sessionId: undefined }),
    from: cluster('us-east'),
    expected: { to: 'router', fields: { reason: 'shutdown' } },
  },
  {
    name: 'a chunked hello is refused',
    msg: { ...EXAMPLES.chunk, msgId: 'h1', head: { type: 'hello' } } as Message,
    from: cluster('us-east'),
    expected: reject('not_chunkable'),
  },
  {
    name: 'every cluster of the session, not the management-only hub',
    msg: fromClient('ping'),
    from: client,
    expected: {
      to: 'all-clusters',
      clusters: ['store', 'eu-west', 'us-east'],
      fields: { sessionId: SESSION },
    },
  },
  {
    name: 'keep-alive',
    msg: fromCluster('ping', { sessionId: undefined }),
    from: cluster('eu-west'),
    expected: { to: 'router' },
  },
  { msg: fromClient('pong'), from: client, expected: { to: 'router', fields: { sessionId: SESSION } } },
  {
    name: 'tagged with the cluster',
    msg: fromCluster('pong'),
    from: cluster('eu-west'),
    expected: toClientFrom('eu-west', { nonce: 'n1' }),
  },
  {
    name: 'a spoofed cluster tag is overwritten',
    msg: fromCluster('pong', { cluster: 'us-east' }),
    from: cluster('eu-west'),
    expected: toClientFrom('eu-west'),
  },
  {
    name: 'without a session: answers the router',
    msg: fromCluster('pong', { sessionId: undefined }),
    from: cluster('store'),
    expected: { to: 'router' },
  },
  ...(['child.create', 'child.close', 'session.status', 'branch.create', 'branch.delete'] as const).flatMap(
    (t): Case[] => [
      { msg: fromClient(t), from: client, expected: reject('wrong_direction') },
      { msg: fromCluster(t), from: cluster('eu-west'), expected: reject('wrong_direction') },
    ],
  ),
  { msg: fromClient('branch.status'), from: client, expected: reject('wrong_direction') },
  { msg: fromCluster('branch.status'), from: cluster('us-east'), expected: reject('not_default_cluster') },
  { msg: fromCluster('branch.status'), from: cluster('store'), expected: { to: 'router' } },
  ...(['child.ready', 'child.failed'] as const).flatMap((t): Case[] => [
    { msg: fromClient(t), from: client, expected: reject('wrong_direction') },
    {
      msg: fromCluster(t),
      from: cluster('eu-west'),
      expected: { to: 'router', fields: { sessionId: SESSION } },
    },
    {
      name: 'from the default cluster',
      msg: fromCluster(t),
      from: cluster('store'),
      expected: { to: 'router' },
    },
  ]),
  {
    name: 'about a stolen request: to its cluster',
    msg: fromClient('error', { reqId: undefined, seq: undefined, requestId: 'eu-west:9' }),
    from: client,
    expected: { to: 'cluster', cluster: 'eu-west', fields: { requestId: '9', sessionId: SESSION } },
  },
  {
    name: 'about a tunnel: to the default cluster',
    msg: fromClient('error', { reqId: undefined, seq: undefined, connId: 'c1' }),
    from: client,
    expected: toDefault,
  },
  {
    name: 'about nothing: to the router',
    msg: fromClient('error', { reqId: undefined, seq: undefined }),
    from: client,
    expected: { to: 'router' },
  },
  {
    name: 'a stateful failure: to the client, tagged',
    msg: fromCluster('error'),
    from: cluster('store'),
    expected: toClientFrom('store', { reqId: 'r8', seq: 8 }),
  },
  {
    name: 'about a request: namespaced',
    msg: fromCluster('error', { requestId: '9' }),
    from: cluster('us-east'),
    expected: toClientFrom('us-east', { requestId: 'us-east:9' }),
  },
  {
    name: 'a failed subscribe: to the router for aggregation',
    msg: fromCluster('error', { subId: 's1', seq: undefined }),
    from: cluster('us-east'),
    expected: { to: 'router', fields: { subId: 's1' } },
  },
  {
    name: 'a failed subscribe from a non-workload cluster',
    msg: fromCluster('error', { subId: 's1' }),
    from: cluster('store'),
    expected: reject('not_workload_cluster'),
  },
  {
    name: 'about the connection: to the router',
    msg: fromCluster('error', { sessionId: undefined }),
    from: cluster('store'),
    expected: { to: 'router' },
  },
  // ---- who may speak ----
  {
    name: 'a client naming another session',
    msg: fromClient('env.get', { sessionId: 'ses-2' }),
    from: client,
    expected: reject('session_mismatch'),
  },
  {
    name: 'a client naming its own session',
    msg: fromClient('env.get', { sessionId: SESSION }),
    from: client,
    expected: toDefault,
  },
  {
    name: 'a client claiming to be a cluster: the tag is removed',
    msg: fromClient('data', { cluster: 'eu-west' }),
    from: client,
    expected: { to: 'cluster', cluster: 'us-east', fields: { cluster: undefined } },
  },
  {
    name: 'a cluster not in the topology',
    msg: fromCluster('pong'),
    from: cluster('mars'),
    expected: reject('unknown_cluster'),
  },
];

function check(decision: RouteDecision, expected: Expected): void {
  expect(decision.to).toBe(expected.to);
  if (decision.to === 'reject' || expected.to === 'reject') {
    if (decision.to !== 'reject' || expected.to !== 'reject') throw new Error('unreachable');
    expect(decision.error.code).toBe(expected.code);
    expect(decision.reply).toMatchObject({ v: 1, type: 'error', code: expected.code });
    expect(parseMessage(encodeMessage(decision.reply))).toEqual(decision.reply);
    return;
  }
  if (expected.to === 'default') expect(clusterTargets(decision)).toEqual(['store']);
  if (expected.to === 'workloads' || expected.to === 'all-clusters') {
    expect(clusterTargets(decision)).toEqual(expected.clusters);
  }
  if (expected.to === 'cluster') expect(clusterTargets(decision)).toEqual([expected.cluster]);
  if (expected.to === 'client' && decision.to === 'client') expect(decision.sessionId).toBe(SESSION);
  if (expected.to === 'client' || expected.to === 'router') expect(clusterTargets(decision)).toEqual([]);
  for (const [field, value] of Object.entries(expected.fields ?? {})) {
    expect((decision.message as Record<string, unknown>)[field], field).toEqual(value);
  }
  // What the router forwards is itself a valid message.
  expect(parseMessage(encodeMessage(decision.message))).toEqual(decision.message);
}

const label = (c: Case) =>
  `${c.msg.type} from ${c.from.kind === 'client' ? 'client' : c.from.clusterId}${c.name ? ` (${c.name})` : ''} -> ${c.expected.to}${c.expected.to === 'reject' ? ` ${c.expected.code}` : ''}`;

describe('route: every message type from each side', () => {
  it('the table covers every type from a client and from a cluster', () => {
    for (const type of CARRIED_TYPES) {
      expect(
        cases.some((c) => c.msg.type === type && c.from.kind === 'client'),
        `${type} from client`,
      ).toBe(true);
      expect(
        cases.some((c) => c.msg.type === type && c.from.kind === 'cluster'),
        `${type} from cluster`,
      ).toBe(true);
    }
  });

  it.each(cases.map((c) => [label(c), c] as const))('%s', (_label, c) => {
    // Prepare: freeze the input, routing must not change it.
    const before = structuredClone(c.msg);
    Object.freeze(c.msg);
    // Act
    const decision = route(c.msg, c.from, topology);
    // Assess
    check(decision, c.expected);
    expect(c.msg).toEqual(before);
  });
});

describe('route: rejections answer with an error frame naming what they refuse', () => {
  it('echoes reqId and seq, so the client releases the failure in order', () => {
    const decision = route(fromCluster('env.get', { reqId: 'e1', seq: 4 }), cluster('store'), topology);
    expect(decision).toMatchObject({
      to: 'reject',
      reply: { type: 'error', code: 'wrong_direction', reqId: 'e1', seq: 4, sessionId: SESSION },
    });
    if (decision.to !== 'reject') throw new Error('unreachable');
    expect(decision.error.message).toMatch(
      /a cluster may not send "env.get": it flows client -> default cluster/,
    );
  });

  it('echoes the requestId of a refused response, and says how to fix it', () => {
    const decision = route(fromClient('response', { requestId: '41' }), client, topology);
    expect(decision).toMatchObject({ to: 'reject', reply: { requestId: '41', code: 'invalid_id' } });
    if (decision.to !== 'reject') throw new Error('unreachable');
    expect(decision.error.message).toMatch(/send it back exactly as it arrived/);
    expect(decision.reply).not.toHaveProperty('sessionId');
  });

  it('names the default cluster when another cluster answers a stateful request', () => {
    const decision = route(fromCluster('env.result'), cluster('eu-west'), topology);
    if (decision.to !== 'reject') throw new Error('expected a rejection');
    expect(decision.error.message).toMatch(/belong to the default cluster 'store'/);
    expect(decision.error.httpStatus).toBe(400);
  });
});

describe('route: a default cluster that is also a workload', () => {
  const shared = parseTopology({
    clusters: [
      { id: 'eu-west', roles: ['primary', 'default', 'workload'] },
      { id: 'us-east', roles: ['workload'] },
    ],
  });

  it('pings each cluster once', () => {
    expect(clusterTargets(route(fromClient('ping'), client, shared))).toEqual(['eu-west', 'us-east']);
  });

  it('takes stateful replies and traffic from the same cluster', () => {
    expect(route(fromCluster('env.result'), cluster('eu-west'), shared).to).toBe('client');
    expect(route(fromCluster('request'), cluster('eu-west'), shared).to).toBe('client');
    expect(route(fromCluster('request'), cluster('us-east'), shared).to).toBe('client');
    expect(route(fromCluster('env.result'), cluster('us-east'), shared).to).toBe('reject');
  });
});

describe('route: chunks are routed by their head, without reassembly', () => {
  const bigRequest = (over: Record<string, unknown> = {}) =>
    fromCluster('request', { body: Buffer.alloc(100_000, 3).toString('base64'), ...over }) as CarriedMessage;
  const bigResponse = () =>
    fromClient('response', { body: Buffer.alloc(100_000, 5).toString('base64') }) as CarriedMessage;
  const chunks = (msg: CarriedMessage, msgId?: string) =>
    encodeFrames(msg, msgId ? { msgId } : {}).map((f) => parseMessage(f) as ChunkMessage);

  it('namespaces msgId and the head on the way to the client', () => {
    const [first] = chunks(bigRequest(), 'm1');
    const decision = route(first!, cluster('us-east'), topology);
    expect(decision).toMatchObject({
      to: 'client',
      sessionId: SESSION,
      message: {
        type: 'chunk',
        msgId: 'us-east:m1',
        head: { type: 'request', requestId: 'us-east:41', cluster: 'us-east', sessionId: SESSION },
      },
    });
  });

  it('un-namespaces the head and sets sessionId on the way to the cluster', () => {
    const [first] = chunks(bigResponse(), 'm2');
    const decision = route(first!, client, topology);
    expect(decision).toMatchObject({
      to: 'cluster',
      clusterId: 'us-east',
      message: { msgId: 'm2', head: { type: 'response', requestId: '41', sessionId: SESSION } },
    });
  });

  it('refuses a chunked message the router would have to read', () => {
    const ready = fromCluster('child.ready', { pad: 'x'.repeat(40_000) }) as CarriedMessage;
    const [first] = chunks(ready);
    const decision = route(first!, cluster('eu-west'), topology);
    expect(decision).toMatchObject({ to: 'reject', error: { code: 'not_chunkable' } });
  });

  it('refuses a chunk whose head lacks what its type routes on', () => {
    const chunk: ChunkMessage = { ...EXAMPLES.chunk, head: { type: 'data' } };
    expect(route(chunk, client, topology)).toMatchObject({ to: 'reject', error: { code: 'invalid_id' } });
  });

  it('applies the direction rules to the carried type, echoing its ids', () => {
    const [first] = chunks(
      fromClient('request', { body: Buffer.alloc(50_000).toString('base64') }) as CarriedMessage,
    );
    expect(route(first!, client, topology)).toMatchObject({
      to: 'reject',
      reply: { code: 'wrong_direction', requestId: 'us-east:41' },
    });
  });

  it('a big request crosses the router and back within 32 KiB frames, ids intact', () => {
    // Prepare: worst-case id lengths, all of which the router grows.
    const longSession = 's'.repeat(128);
    const topo = parseTopology({
      clusters: [
        { id: 'a'.repeat(31), roles: ['primary', 'default', 'workload'] },
        { id: 'b', roles: ['workload'] },
      ],
    });
    const from = cluster('a'.repeat(31));
    const msg = bigRequest({ sessionId: longSession, requestId: 'q'.repeat(128) });
    const toClient = new Reassembler();
    let atClient: CarriedMessage | undefined;
    // Act: connector -> router -> client
    for (const chunk of chunks(msg, 'm'.repeat(128)).reverse()) {
      const decision = route(chunk, from, topo);
      if (decision.to !== 'client') throw new Error(`routed to ${decision.to}`);
      const frame = encodeMessage(decision.message);
      expect(Buffer.byteLength(frame)).toBeLessThanOrEqual(API_GATEWAY_FRAME_BYTES);
      atClient = toClient.add(parseMessage(frame) as ChunkMessage, 0) ?? atClient;
    }
    // Assess
    expect(atClient).toMatchObject({
      type: 'request',
      requestId: `${'a'.repeat(31)}:${'q'.repeat(128)}`,
      cluster: 'a'.repeat(31),
      sessionId: longSession,
      body: (msg as { body: string }).body,
    });

    // Act: client -> router -> connector, answering with a big response.
    const response = {
      ...fromClient('response', { requestId: (atClient as { requestId: string }).requestId }),
      body: Buffer.alloc(90_000, 9).toString('base64'),
    } as CarriedMessage;
    const atConnector = new Reassembler();
    let delivered: CarriedMessage | undefined;
    for (const chunk of chunks(response, 'n'.repeat(128))) {
      const decision = route(chunk, { kind: 'client', sessionId: longSession }, topo);
      if (decision.to !== 'cluster') throw new Error(`routed to ${decision.to}`);
      expect(decision.clusterId).toBe('a'.repeat(31));
      const frame = encodeMessage(decision.message);
      expect(Buffer.byteLength(frame)).toBeLessThanOrEqual(API_GATEWAY_FRAME_BYTES);
      delivered = atConnector.add(parseMessage(frame) as ChunkMessage, 0) ?? delivered;
    }
    expect(delivered).toMatchObject({ type: 'response', requestId: 'q'.repeat(128), sessionId: longSession });
    expect(delivered).not.toHaveProperty('cluster');
  });
});

describe('route: an answer carries the session of the connection that sent it (request binding)', () => {
  // The connector accepts an answer only from the session it delivered the request to; what it
  // compares is this `sessionId`, so it must come from the connection, never from the frame.
  const answers: [string, Message][] = [
    ['response', fromClient('response')],
    ['data', fromClient('data')],
    ['close', fromClient('close')],
    [
      'error about a request',
      fromClient('error', { requestId: 'us-east:41', reqId: undefined, seq: undefined }),
    ],
    ['outgoing.data', fromClient('outgoing.data')],
    ['outgoing.close', fromClient('outgoing.close')],
  ];

  it.each(answers)('%s goes out stamped with the sender’s session', (_name, msg) => {
    const decision = route(msg, { kind: 'client', sessionId: 'ses-bob' }, topology);
    expect(decision.to === 'cluster' || decision.to === 'default').toBe(true);
    expect((decision as { message: Record<string, unknown> }).message.sessionId).toBe('ses-bob');
  });

  it.each(answers)('%s naming another session is refused', (_name, msg) => {
    const decision = route(
      { ...msg, sessionId: SESSION } as Message,
      { kind: 'client', sessionId: 'ses-bob' },
      topology,
    );
    expect(decision).toMatchObject({ to: 'reject', error: { code: 'session_mismatch' } });
  });

  it('stamps a chunk’s head, and refuses one whose head names another session', () => {
    const chunk: ChunkMessage = { ...EXAMPLES.chunk, head: { type: 'response', requestId: 'us-east:41' } };
    const from: From = { kind: 'client', sessionId: 'ses-bob' };
    expect(route(chunk, from, topology)).toMatchObject({
      to: 'cluster',
      message: { head: { sessionId: 'ses-bob', requestId: '41' } },
    });
    const forged: ChunkMessage = { ...chunk, head: { ...chunk.head, sessionId: SESSION } };
    expect(route(forged, from, topology)).toMatchObject({
      to: 'reject',
      error: { code: 'session_mismatch' },
    });
  });
});
