import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConnectorConfig } from '../../connector/config.ts';
import { Connector } from '../../connector/connector.ts';
import { type EchoClient, type EchoService, loadEcho, type Msg } from '../helpers/grpc-echo.ts';
import { eventually, startTestRuntime, type TestRuntime } from '../helpers/local-runtime.ts';
import { type CliRun, cli, waitConnected } from './harness.ts';

/**
 * gRPC calls stolen by their metadata: through the real local runtime, a connector fronting a
 * gRPC upstream (h2c) and `switchyard intercept --header x-dev=^alice$`, a call with that
 * metadata is answered by the developer's local gRPC server, status and trailers included.
 */

const TOPOLOGY = {
  region: 'us-east-1',
  clusters: [{ id: 'east', roles: ['primary', 'workload', 'default'] }],
};

let runtime: TestRuntime;
let connector: Connector;
let upstream: grpc.Server;
let local: grpc.Server;
let client: EchoClient;
let run: CliRun;
/** Releases the local app's stream after its first message. */
let releaseCount: () => void = () => {};

/** A gRPC server whose every answer starts with `name:`, so the test sees who answered. */
async function echoServer(Echo: EchoService, name: string): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server();
  server.addService(Echo.service, {
    Say: (call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
      if (call.request.text === 'missing') {
        cb({ code: grpc.status.NOT_FOUND, details: `${name}: no such thing` });
        return;
      }
      const dev = call.metadata.get('x-dev')[0] ?? 'nobody';
      cb(null, { text: `${name}: ${call.request.text} for ${dev}`, n: call.request.n + 1 });
    },
    Count: (call: grpc.ServerWritableStream<Msg, Msg>) => {
      call.write({ text: `${name}: ${call.request.text} 1`, n: 1 });
      // The rest only once the client has the first message: a buffered answer never gets there.
      const gate = name === 'local' ? new Promise<void>((r) => (releaseCount = r)) : Promise.resolve();
      void gate.then(() => {
        for (let i = 2; i <= call.request.n; i++)
          call.write({ text: `${name}: ${call.request.text} ${i}`, n: i });
        if (call.request.text === 'fail')
          call.emit('error', { code: grpc.status.ABORTED, details: 'stopped' });
        else call.end();
      });
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return { server, port };
}

const withDev = (dev?: string) => {
  const md = new grpc.Metadata();
  if (dev) md.set('x-dev', dev);
  return md;
};

function say(text: string, dev?: string): Promise<{ reply?: Msg; err?: grpc.ServiceError }> {
  return new Promise((resolve) =>
    client.Say({ text, n: 1 }, withDev(dev), (err, reply) => resolve(err ? { err } : { reply: reply! })),
  );
}

beforeAll(async () => {
  runtime = await startTestRuntime({ topology: TOPOLOGY });
  const Echo = loadEcho();
  const up = await echoServer(Echo, 'upstream');
  upstream = up.server;
  const app = await echoServer(Echo, 'local');
  local = app.server;
  const config = parseConnectorConfig({
    services: [
      {
        name: 'api',
        ingress: { port: 0, host: '127.0.0.1' },
        upstream: `http://127.0.0.1:${up.port}`,
        upstreamProtocol: 'h2c',
      },
    ],
    requestDeadlineMs: 5_000,
  });
  connector = new Connector({
    router: runtime.wsUrl,
    cluster: 'east',
    token: runtime.clusterTokens.east!,
    config,
    log: process.env.SWITCHYARD_TEST_LOG ? undefined : () => {},
  });
  await connector.start();
  await waitConnected(runtime, 'east');
  client = new Echo(
    `127.0.0.1:${connector.ports.api}`,
    grpc.credentials.createInsecure(),
  ) as unknown as EchoClient;
  run = cli(runtime, ['intercept', 'api', '--to', String(app.port), '--header', 'x-dev=^alice$']);
  await run.waitFor(/stealing api from east/);
});

afterAll(async () => {
  if (run && run.child.exitCode === null) {
    run.child.kill('SIGINT');
    await run.exited;
  }
  client?.close();
  await connector?.stop();
  upstream?.forceShutdown();
  local?.forceShutdown();
  await runtime?.stop();
});

describe('gRPC calls stolen by metadata', () => {
  it('A stolen gRPC call is answered by the local app.', async () => {
    const { reply, err } = await say('hi', 'alice');

    // The local app saw the metadata the filter matched, and its answer reached the client.
    expect(err).toBeUndefined();
    expect(reply).toEqual({ text: 'local: hi for alice', n: 2 });
  });

  it('streams a server-streaming call from the local app, message by message', async () => {
    // Act
    const call = client.Count({ text: 'tick', n: 3 }, withDev('alice'));
    const got: string[] = [];
    call.on('data', (m: Msg) => got.push(m.text));
    const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    await eventually(() => got.length > 0, 10_000, 'the first message');

    // Assess: the first message is here while the app still holds the call open.
    expect(got).toEqual(['local: tick 1']);
    releaseCount();
    expect((await status).code).toBe(grpc.status.OK);
    expect(got).toEqual(['local: tick 1', 'local: tick 2', 'local: tick 3']);
  });

  it('relays an error status from the local app, in a trailers-only answer or after messages', async () => {
    // Act
    const { err } = await say('missing', 'alice');
    const call = client.Count({ text: 'fail', n: 2 }, withDev('alice'));
    const got: string[] = [];
    call.on('data', (m: Msg) => got.push(m.text));
    call.on('error', () => {});
    const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    await eventually(() => got.length > 0, 10_000, 'the first message');
    releaseCount();

    // Assess
    expect(err?.code).toBe(grpc.status.NOT_FOUND);
    expect(err?.details).toBe('local: no such thing');
    expect(await status).toMatchObject({ code: grpc.status.ABORTED, details: 'stopped' });
    expect(got).toEqual(['local: fail 1', 'local: fail 2']);
  });

  it('leaves a call without the metadata to the upstream', async () => {
    const [other, none] = await Promise.all([say('hi', 'bob'), say('hi')]);

    expect(other.reply).toEqual({ text: 'upstream: hi for bob', n: 2 });
    expect(none.reply).toEqual({ text: 'upstream: hi for nobody', n: 2 });
  });

  it('serves a matching call from the upstream once the CLI has stopped', async () => {
    // Act
    run.child.kill('SIGINT');
    await run.exited;
    const { reply, err } = await say('hi', 'alice');

    // Assess
    expect(err).toBeUndefined();
    expect(reply).toEqual({ text: 'upstream: hi for alice', n: 2 });
  });
});
