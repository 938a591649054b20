import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import { encodeFrames } from '../../shared/protocol/chunking.ts';
import type { CarriedMessage } from '../../shared/protocol/messages.ts';
import { eventually, startTestRuntime, type TestRuntime } from '../helpers/local-runtime.ts';
import { addDeveloper, startCluster, type TestCluster } from './harness.ts';
import { type Frame, openRawSession, type RawSession } from './raw-session.ts';

/**
 * One connector rebuilds every developer's chunked messages. Bob, on two sessions, starts many
 * chunked messages toward the cluster and never finishes them; Alice's large answer to the
 * request she stole must still reach her caller (before, Bob's partials filled the connector's
 * one reassembler and Alice's chunks were refused with `too_many_partials`).
 */

const TOPOLOGY = {
  region: 'us-east-1',
  clusters: [{ id: 'east', roles: ['primary', 'workload', 'default'] }],
};
const BOB_PARTIALS = 24; // more than the connector's whole bound of 16 incomplete messages

type Dev = RawSession;

let runtime: TestRuntime;
let east: TestCluster;
const open: WebSocket[] = [];

const session = (token: string): Promise<Dev> => openRawSession(runtime, token, open);

beforeAll(async () => {
  runtime = await startTestRuntime({ topology: TOPOLOGY });
  east = await startCluster(runtime, 'east', { requestDeadlineMs: 20_000 });
});

afterAll(async () => {
  for (const ws of open) ws.close();
  await east?.connector.stop();
  east?.upstream.close();
  await runtime?.stop();
});

describe('reassembly is shared fairly between developers', () => {
  it('delivers Alice’s chunked answer to her stolen request while Bob floods the connector with partial chunks', async () => {
    // Prepare: Alice steals by header; Bob has two sessions of his own.
    const alice = await session(runtime.developerToken);
    const bobToken = await addDeveloper(runtime, 'bob');
    const bob = [await session(bobToken), await session(bobToken)];
    alice.send({
      type: 'subscribe',
      reqId: 'q1',
      subId: 'steal-a',
      service: 'api',
      mode: 'steal',
      filter: { headers: { 'x-dev': '^alice$' } },
    });
    await alice.all((f) => f.type === 'subscribed', 1, 'Alice subscribed');
    const caller = fetch(`${east.ingressUrl}/report`, { headers: { 'x-dev': 'alice' } }).then(async (r) => ({
      status: r.status,
      text: await r.text(),
    }));
    const [stolen] = await alice.all((f) => f.type === 'request', 1, 'the stolen request at Alice');

    // Act: Bob starts chunked messages (near-full frames) on both sessions and never finishes one.
    const filler = Buffer.alloc(22_000, 0x42).toString('base64');
    for (let i = 0; i < BOB_PARTIALS; i++) {
      bob[i % 2]!.send({
        type: 'chunk',
        msgId: `flood-${i}`,
        seq: 0,
        total: 300,
        head: { type: 'env.get', reqId: `f${i}`, seq: 0 },
        data: filler,
      });
    }
    // The connector tells Bob of each of his messages it gave up on: all are in once these are.
    const dropped = (f: Frame) => f.type === 'error' && f.code === 'too_many_partials';
    await eventually(
      () => bob[0]!.frames.filter(dropped).length + bob[1]!.frames.filter(dropped).length >= BOB_PARTIALS - 4,
      10_000,
      'the connector to drop all but 4 of Bob’s messages',
    );
    expect(east.connector.peer.reassembler.partialCount).toBe(4);
    // Alice answers with a body far over one frame.
    const body = 'alice-report:'.padEnd(150_000, 'r');
    const answer = {
      v: 1,
      type: 'response',
      requestId: stolen!.requestId,
      status: 200,
      headers: { 'content-type': 'text/plain' },
      body: Buffer.from(body).toString('base64'),
    } as unknown as CarriedMessage;
    const frames = encodeFrames(answer);
    expect(frames.length).toBeGreaterThan(5);
    for (const f of frames) alice.sendText(f);

    // Assess: Alice's caller gets her answer, whole; Alice was refused nothing; Bob only lost his own.
    expect(await caller).toEqual({ status: 200, text: body });
    expect(alice.frames.filter((f) => f.type === 'error')).toEqual([]);
    const bobErrors = [...bob[0]!.frames, ...bob[1]!.frames].filter(dropped);
    for (const e of bobErrors) expect(String(e.reqId)).toMatch(/^f\d+$/);
  });
});
