import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpRequest } from '@smithy/core/protocols';
import { SignatureV4 } from '@smithy/signature-v4';
import { afterEach, describe, expect, it } from 'vitest';
import { DynamoDbError, regionalEndpoint, signedDynamo } from '../../functions/lib/dynamodb-client.ts';
import { sign } from '../../functions/lib/sigv4.ts';
import { ConditionFailedError } from '../../shared/errors/errors.ts';
import { DynamoDbStore } from '../../shared/store/dynamodb/dynamodb-store.ts';
import { EXAMPLE_CREDENTIALS, Sha256, SIGNING_DATE } from '../helpers/sigv4-reference.ts';

const credentials = EXAMPLE_CREDENTIALS;
const date = SIGNING_DATE;

describe('SigV4 for DynamoDB', () => {
  it('signs x-amz-target and content-type exactly as the SDK signer does', async () => {
    // Prepare
    const body = Buffer.from('{"TableName":"t","Key":{"pk":{"S":"SESSION#a"},"sk":{"S":"META"}}}');
    const host = 'dynamodb.eu-west-1.amazonaws.com';
    const extra = {
      'content-type': 'application/x-amz-json-1.0',
      'x-amz-target': 'DynamoDB_20120810.GetItem',
    };
    // Act
    const ours = sign({
      method: 'POST',
      host,
      path: '/',
      body,
      region: 'eu-west-1',
      service: 'dynamodb',
      credentials,
      date,
      headers: extra,
    });
    const theirs = await new SignatureV4({
      credentials,
      region: 'eu-west-1',
      service: 'dynamodb',
      sha256: Sha256,
      uriEscapePath: true,
      applyChecksum: false,
    }).sign(
      new HttpRequest({
        method: 'POST',
        protocol: 'https:',
        hostname: host,
        path: '/',
        headers: { host, ...extra },
        body,
      }),
      { signingDate: date },
    );
    // Assess
    expect(ours.authorization).toContain(
      'SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target,',
    );
    expect(ours.authorization).toBe(theirs.headers.authorization);
  });

  it("names each region's endpoint", () => {
    expect(regionalEndpoint('eu-west-1')).toBe('https://dynamodb.eu-west-1.amazonaws.com');
    expect(regionalEndpoint('cn-north-1')).toBe('https://dynamodb.cn-north-1.amazonaws.com.cn');
  });
});

describe('signedDynamo', () => {
  let server: Server | undefined;
  afterEach(() => server?.close());

  type Reply = { status: number; body: object };
  /** A stand-in DynamoDB: answers each call with the next of `replies` (200 `{}` when they run out). */
  async function endpoint(replies: Reply[]) {
    const seen: { target: string; type: string; body: string; auth: string }[] = [];
    server = createServer((req: IncomingMessage, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push({
          target: String(req.headers['x-amz-target']),
          type: String(req.headers['content-type']),
          body: Buffer.concat(chunks).toString(),
          auth: String(req.headers.authorization),
        });
        const reply = replies.shift() ?? { status: 200, body: {} };
        res
          .writeHead(reply.status, { 'content-type': 'application/x-amz-json-1.0' })
          .end(JSON.stringify(reply.body));
      });
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
    const api = signedDynamo({
      endpoint: `http://127.0.0.1:${(server!.address() as AddressInfo).port}`,
      region: 'us-east-1',
      credentials: async () => credentials,
      now: () => date,
    });
    return { api, seen };
  }
  const fault = (type: string, message = type) => ({
    status: 400,
    body: { __type: `com.amazonaws.dynamodb.v20120810#${type}`, message },
  });

  it('posts the operation as DynamoDB JSON, signed, and gives back the answer', async () => {
    const item = { pk: { S: 'SESSION#a' }, sk: { S: 'META' }, n: { N: '2' } };
    const { api, seen } = await endpoint([{ status: 200, body: { Item: item } }]);
    const out = await api.call('GetItem', { TableName: 't', Key: { pk: { S: 'SESSION#a' } } });
    expect(out).toEqual({ Item: item });
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({
      target: 'DynamoDB_20120810.GetItem',
      type: 'application/x-amz-json-1.0',
      body: '{"TableName":"t","Key":{"pk":{"S":"SESSION#a"}}}',
    });
    expect(seen[0]!.auth).toMatch(/Credential=AKIDEXAMPLE\/20261202\/us-east-1\/dynamodb\/aws4_request/);
  });

  it('throws a lost condition at once, named as the SDK names it (the store maps it)', async () => {
    const { api, seen } = await endpoint([
      fault('ConditionalCheckFailedException', 'The conditional request failed'),
    ]);
    const err = await api.call('UpdateItem', {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DynamoDbError);
    expect(err).toMatchObject({ name: 'ConditionalCheckFailedException', status: 400 });
    expect(seen).toHaveLength(1);
  });

  it("reaches the store's callers as its ConditionFailedError", async () => {
    const { api } = await endpoint([fault('ConditionalCheckFailedException')]);
    const store = new DynamoDbStore(api, 't');
    await expect(store.update({ pk: 'P', sk: 'S' }, { a: 1 })).rejects.toBeInstanceOf(ConditionFailedError);
  });

  it('retries throttling and 5xx, then succeeds', async () => {
    const { api, seen } = await endpoint([
      fault('ProvisionedThroughputExceededException'),
      { status: 500, body: { __type: 'InternalServerError' } },
      { status: 200, body: { Attributes: { a: { N: '1' } } } },
    ]);
    expect(await api.call('UpdateItem', {})).toEqual({ Attributes: { a: { N: '1' } } });
    expect(seen).toHaveLength(3);
  });

  it('gives up after three attempts with the last error', async () => {
    const { api, seen } = await endpoint([
      { status: 503, body: {} },
      { status: 503, body: {} },
      { status: 503, body: {} },
      { status: 200, body: {} },
    ]);
    await expect(api.call('Query', {})).rejects.toMatchObject({ status: 503 });
    expect(seen).toHaveLength(3);
  });

  it('does not retry a refusal that another attempt cannot cure', async () => {
    const { api, seen } = await endpoint([
      fault('ValidationException', 'Item size has exceeded the maximum allowed size'),
    ]);
    await expect(api.call('PutItem', {})).rejects.toMatchObject({
      name: 'ValidationException',
      message: 'Item size has exceeded the maximum allowed size',
    });
    expect(seen).toHaveLength(1);
  });
});
