import { PassThrough } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ForwardedResponse } from '../../connector/ingress/types.ts';
import { FakeTrafficRouter } from '../helpers/fake-traffic-router.ts';
import { type EchoClient, loadEcho, type Msg } from '../helpers/grpc-echo.ts';
import { startIngress, type TestIngress } from '../helpers/ingress.ts';

// gRPC through the ingress: h2c in from the client, h2c out to a gRPC server (upstreamProtocol).

let server: grpc.Server;
let Echo: grpc.ServiceClientConstructor;
let ingress: TestIngress;
let client: EchoClient;
const router = new FakeTrafficRouter();

beforeAll(async () => {
  Echo = loadEcho();
  server = new grpc.Server();
  server.addService(Echo.service, {
    Say: (call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
      const dev = call.metadata.get('x-dev')[0] ?? 'nobody';
      cb(null, { text: `upstream says ${call.request.text} to ${dev}`, n: call.request.n + 1 });
    },
    Count: (call: grpc.ServerWritableStream<Msg, Msg>) => {
      for (let i = 1; i <= call.request.n; i++) call.write({ text: `${call.request.text} ${i}`, n: i });
      call.end();
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  router.subscribe('mirror', { headers: { 'x-dev': '^ann$' } }, 'ann');
  router.subscribe('steal', { headers: { 'x-dev': '^cat$' } }, 'cat');
  ingress = await startIngress(`http://127.0.0.1:${port}`, { upstreamProtocol: 'h2c' }, 64 * 1024, router);
  client = new Echo(`127.0.0.1:${ingress.port}`, grpc.credentials.createInsecure()) as unknown as EchoClient;
});

afterAll(async () => {
  client?.close();
  await ingress?.ingress.close();
  server?.forceShutdown();
});

describe('gRPC through the ingress', () => {
  it('passes a unary call through, metadata included', async () => {
    const md = new grpc.Metadata();
    md.set('x-dev', 'bea');

    const reply = await new Promise<Msg>((resolve, reject) =>
      client.Say({ text: 'hi', n: 41 }, md, (err, r) => (err ? reject(err) : resolve(r!))),
    );

    expect(reply).toEqual({ text: 'upstream says hi to bea', n: 42 });
  });

  it('streams a server-streaming call through, every message and the OK status', async () => {
    const call = client.Count({ text: 'tick', n: 5 }, new grpc.Metadata());
    const got: Msg[] = [];
    call.on('data', (m: Msg) => got.push(m));
    const status = await new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));

    expect(got.map((m) => m.text)).toEqual(['tick 1', 'tick 2', 'tick 3', 'tick 4', 'tick 5']);
    expect(status.code).toBe(grpc.status.OK);
  });

  it('relays an error status from the upstream (trailers only)', async () => {
    const err = await new Promise<grpc.ServiceError>((resolve) =>
      (client as unknown as { makeUnaryRequest: grpc.Client['makeUnaryRequest'] }).makeUnaryRequest(
        '/echo.Echo/Missing',
        (x: Buffer) => x,
        (x: Buffer) => x,
        Buffer.alloc(0),
        (e) => resolve(e as grpc.ServiceError),
      ),
    );

    expect(err.code).toBe(grpc.status.UNIMPLEMENTED);
  });

  it('routes a call by its metadata like an HTTP header: a matching mirror gets a copy', async () => {
    const md = new grpc.Metadata();
    md.set('x-dev', 'ann');
    router.mirrored.length = 0;

    await new Promise<Msg>((resolve, reject) =>
      client.Say({ text: 'copy me', n: 1 }, md, (err, r) => (err ? reject(err) : resolve(r!))),
    );

    expect(router.mirrored).toHaveLength(1);
    expect(router.mirrored[0]).toMatchObject({
      method: 'POST',
      path: '/echo.Echo/Say',
      headers: { 'x-dev': 'ann', 'content-type': 'application/grpc' },
    });
    // A gRPC message: 1 byte compressed flag, 4 bytes length, then the protobuf.
    expect(router.mirrored[0]!.body.subarray(5).toString('latin1')).toContain('copy me');
  });
});

/** A developer's answer to a stolen call, as the connector hands it to the ingress. */
describe('a stolen gRPC call answered by its developer', () => {
  const grpcFrame = (m: Msg) => {
    const payload = Echo.service.Say!.responseSerialize(m);
    const head = Buffer.alloc(5);
    head.writeUInt32BE(payload.length, 1);
    return Buffer.concat([head, payload]);
  };
  const cat = () => {
    const md = new grpc.Metadata();
    md.set('x-dev', 'cat');
    return md;
  };
  const say = () =>
    new Promise<{ reply?: Msg; err?: grpc.ServiceError }>((resolve) =>
      client.Say({ text: 'hi', n: 1 }, cat(), (err, reply) => resolve(err ? { err } : { reply: reply! })),
    );
  const grpcHead = { 'content-type': 'application/grpc' };
  afterAll(() => {
    router.answer = () => undefined;
  });

  it('sends a whole answer with its trailers: the message, then the status', async () => {
    router.answer = () => ({
      status: 200,
      headers: grpcHead,
      body: grpcFrame({ text: 'from cat', n: 7 }),
      trailers: { 'grpc-status': '0', 'x-note': 'done' },
    });

    const { reply, err } = await say();

    expect(err).toBeUndefined();
    expect(reply).toEqual({ text: 'from cat', n: 7 });
  });

  it('sends a head-only answer as a trailers-only reply, its status read from the head', async () => {
    router.answer = () => ({
      status: 200,
      headers: { ...grpcHead, 'grpc-status': '5', 'grpc-message': 'not here' },
      body: Buffer.alloc(0),
    });

    const { err } = await say();

    expect(err).toMatchObject({ code: grpc.status.NOT_FOUND, details: 'not here' });
  });

  it('sends a streamed answer’s trailers, set when its body ends, after the last message', async () => {
    const body = new PassThrough();
    const answer: ForwardedResponse = { status: 200, headers: grpcHead, body };
    router.answer = () => answer;
    const called = say();
    body.write(grpcFrame({ text: 'streamed', n: 3 }));
    await new Promise((r) => setTimeout(r, 20));
    answer.trailers = { 'grpc-status': '9', 'grpc-message': 'after the message' };
    body.end();

    const { err } = await called;

    expect(err).toMatchObject({ code: grpc.status.FAILED_PRECONDITION, details: 'after the message' });
  });
});
