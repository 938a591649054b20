import { expect } from 'vitest';
import WebSocket from 'ws';
import { eventually, type TestRuntime } from '../helpers/local-runtime.ts';
import { api } from './harness.ts';

export type Frame = Record<string, unknown>;

/** A developer's session, spoken to over its own WebSocket as the CLI would. */
export interface RawSession {
  id: string;
  ws: WebSocket;
  /** Every frame received, in order. */
  frames: Frame[];
  sendText(text: string): void;
  /** Sends a protocol message (`v: 1` added). */
  send(m: Frame): void;
  /** The first `count` frames matching `pred`, once they have arrived (10 s at most). */
  all(pred: (f: Frame) => boolean, count: number, what: string): Promise<Frame[]>;
  next(pred: (f: Frame) => boolean, what: string): Promise<Frame>;
}

/**
 * Creates a session for `token`, waits until it is ready and opens its WebSocket. The socket is
 * pushed to `open`, for the test's afterAll to close.
 */
export async function openRawSession(
  runtime: TestRuntime,
  token: string,
  open: WebSocket[],
): Promise<RawSession> {
  const { status, body } = await api(runtime, 'POST', '/v1/sessions', { service: 'api' }, token);
  expect(status).toBe(201);
  const id = body.id as string;
  await eventually(
    async () => (await api(runtime, 'GET', `/v1/sessions/${id}`, undefined, token)).body.state === 'ready',
    10_000,
    `session ${id} to be ready`,
  );
  const ws = new WebSocket(`${runtime.wsUrl}?session=${id}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  open.push(ws);
  const frames: Frame[] = [];
  ws.on('message', (d) => frames.push(JSON.parse(d.toString())));
  await new Promise((r, j) => ws.once('open', r).once('error', j));
  const all = (pred: (f: Frame) => boolean, count: number, what: string) =>
    eventually(
      () => {
        const found = frames.filter(pred);
        return found.length >= count && found;
      },
      10_000,
      what,
    );
  return {
    id,
    ws,
    frames,
    sendText: (text) => ws.send(text),
    send: (m) => ws.send(JSON.stringify({ v: 1, ...m })),
    all,
    next: async (pred, what) => (await all(pred, 1, what))[0]!,
  };
}
