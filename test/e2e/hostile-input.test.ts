import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { KNOWN_HOSTILE_FRAMES } from '../helpers/hostile-messages.ts';
import { eventually, startTestRuntime, type TestRuntime } from '../helpers/local-runtime.ts';
import { api, startCluster, type TestCluster } from './harness.ts';

/**
 * What an adversarial sweep found the router and the connector getting wrong, end to end on the
 * local runtime: malformed frames (from a developer and from a cluster) that crashed the ws
 * handler, a `file.list` on a file that was never answered, and refusals that told whether a
 * file outside the allow-list exists.
 */
const TOPOLOGY = {
  region: 'us-east-1',
  clusters: [
    { id: 'east', roles: ['primary', 'workload', 'default'] },
    // Its connection is a bare socket in this test: frames sent as a cluster, nothing else.
    { id: 'north', roles: ['workload'] },
  ],
};

interface Socket {
  ws: WebSocket;
  frames: Record<string, unknown>[];
  /** Frames that were not JSON (API Gateway's own `Internal server error` is JSON, but not a message). */
  raw: string[];
}

async function open(url: string, token: string): Promise<Socket> {
  const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } });
  const socket: Socket = { ws, frames: [], raw: [] };
  ws.on('message', (d) => {
    const text = d.toString();
    try {
      socket.frames.push(JSON.parse(text));
    } catch {
      socket.raw.push(text);
    }
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return socket;
}

/** Sends one text and waits for the next frame on the socket. */
async function exchange(socket: Socket, text: string): Promise<Record<string, unknown>> {
  const before = socket.frames.length;
  socket.ws.send(text);
  return eventually(() => socket.frames[before], 10_000, 'an answer');
}

let runtime: TestRuntime;
let east: TestCluster;
let north: Socket;
let dev: Socket;
let dir: string;
let seq = 0;

/** A stateful request from the developer, and the answer with its reqId. */
async function ask(fields: Record<string, unknown>): Promise<Record<string, unknown>> {
  seq++;
  const reqId = `q${seq}`;
  dev.ws.send(JSON.stringify({ v: 1, reqId, seq, service: 'api', ...fields }));
  return eventually(() => dev.frames.find((f) => f.reqId === reqId), 10_000, `the answer to ${reqId}`);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'switchyard-hostile-'));
  const allowed = join(dir, 'allowed');
  mkdirSync(allowed);
  writeFileSync(join(allowed, 'config.yaml'), 'port: 8080\n');
  symlinkSync('/etc/passwd', join(allowed, 'passwd-link'));
  symlinkSync('/etc/passwd-missing-switchyard', join(allowed, 'missing-link'));

  runtime = await startTestRuntime({ topology: TOPOLOGY });
  east = await startCluster(runtime, 'east', {
    services: [
      {
        name: 'api',
        ingress: { port: 0, host: '127.0.0.1' },
        upstream: 'http://127.0.0.1:9',
        files: [allowed],
      },
    ],
  });
  north = await open(`${runtime.wsUrl}?cluster=north`, runtime.clusterTokens.north!);
  // A connector's part: ready for every child the router creates.
  north.ws.on('message', (d) => {
    const m = JSON.parse(d.toString());
    if (m.type === 'child.create') {
      north.ws.send(
        JSON.stringify({ v: 1, type: 'child.ready', sessionId: m.sessionId, childId: m.childId }),
      );
    }
  });
  north.ws.send(JSON.stringify({ v: 1, type: 'hello', services: ['api'] }));

  const { status, body } = await api(runtime, 'POST', '/v1/sessions', { service: 'api' });
  expect(status).toBe(201);
  await eventually(
    async () => (await api(runtime, 'GET', `/v1/sessions/${body.id}`)).body.state === 'ready',
    10_000,
    'the session to be ready',
  );
  dev = await open(`${runtime.wsUrl}?session=${body.id}`, runtime.developerToken);
});

afterAll(async () => {
  dev?.ws.close();
  north?.ws.close();
  await east?.connector.stop();
  east?.upstream.close();
  await runtime?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('malformed frames get an error frame, never an Internal server error', () => {
  it.each(KNOWN_HOSTILE_FRAMES)('$label, from a developer and from a cluster', async ({ text }) => {
    for (const socket of [dev, north]) {
      // Act
      const answer = await exchange(socket, text);

      // Assess
      expect(answer).toMatchObject({ v: 1, type: 'error', code: expect.stringMatching(/^[a-z_]+$/) });
      expect(answer.code).not.toBe('internal');
      expect((answer.message as string).length).toBeLessThanOrEqual(4096);
      expect(socket.raw).toEqual([]);
      expect(socket.ws.readyState).toBe(WebSocket.OPEN);
    }
    // Still served: a stateful request goes through.
    expect(await ask({ type: 'env.get' })).toMatchObject({ type: 'env.result' });
  });

  it('names the bad value by a short prefix and its length', async () => {
    const answer = await exchange(dev, JSON.stringify({ v: 1, type: 't'.repeat(5000) }));
    expect(answer).toMatchObject({ type: 'error', code: 'unknown_type' });
    expect(answer.message).toContain('(5000 chars)');
    expect((answer.message as string).length).toBeLessThan(1000);
  });
});

describe('file requests are always answered', () => {
  it('answers file.list on a regular file with not_a_directory', async () => {
    const answer = await ask({ type: 'file.list', path: join(dir, 'allowed', 'config.yaml') });
    expect(answer).toMatchObject({ type: 'error', code: 'not_a_directory', cluster: 'east' });
  });

  it('still lists the directory', async () => {
    const answer = await ask({ type: 'file.list', path: join(dir, 'allowed') });
    expect(answer).toMatchObject({ type: 'file.result' });
    expect((answer.entries as { name: string }[]).map((e) => e.name).sort()).toEqual([
      'config.yaml',
      'missing-link',
      'passwd-link',
    ]);
  });
});

describe('no existence oracle outside the allow-list', () => {
  /** The answer's code and text, the path in the text replaced. */
  const shape = (answer: Record<string, unknown>, path: string) => ({
    type: answer.type,
    code: answer.code,
    message: (answer.message as string).replace(JSON.stringify(path), '<path>'),
  });

  it.each([
    ['paths outside', '/etc/passwd', '/etc/passwd-missing-switchyard'],
    ['links out of the allowed directory', 'allowed/passwd-link', 'allowed/missing-link'],
  ])('answers file.stat on existing and missing %s alike', async (_what, existing, missing) => {
    const at = (p: string) => (p.startsWith('/') ? p : join(dir, p));
    const a = await ask({ type: 'file.stat', path: at(existing) });
    const b = await ask({ type: 'file.stat', path: at(missing) });
    expect(a).toMatchObject({ type: 'error', code: 'forbidden_path' });
    expect(shape(b, at(missing))).toEqual(shape(a, at(existing)));
  });
});
