import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpRequest } from '@smithy/core/protocols';
import { SignatureV4 } from '@smithy/signature-v4';
import { afterEach, describe, expect, it } from 'vitest';
import { ManagementApiError, signedConnections } from '../../functions/lib/connections-client.ts';
import { sign } from '../../functions/lib/sigv4.ts';
import { EXAMPLE_CREDENTIALS, Sha256, SIGNING_DATE } from '../helpers/sigv4-reference.ts';

const credentials = EXAMPLE_CREDENTIALS;
const date = SIGNING_DATE;

/** What the AWS SDK's own signer makes of the same request: the reference the lean signer must match. */
async function sdkSignature(
  path: string,
  body: Buffer,
  creds: typeof credentials | Omit<typeof credentials, 'sessionToken'>,
) {
  const signer = new SignatureV4({
    credentials: creds,
    region: 'eu-west-1',
    service: 'execute-api',
    sha256: Sha256,
    uriEscapePath: true,
    // The SDK's client signs the payload hash as a header too; the hash is in the canonical
    // request either way, and API Gateway checks what SignedHeaders names.
    applyChecksum: false,
  });
  const signed = await signer.sign(
    new HttpRequest({
      method: 'POST',
      protocol: 'https:',
      hostname: 'abc123.execute-api.eu-west-1.amazonaws.com',
      path,
      headers: { host: 'abc123.execute-api.eu-west-1.amazonaws.com' },
      body,
    }),
    { signingDate: date },
  );
  return signed.headers;
}

describe('SigV4 for the management API', () => {
  it.each([
    ['a connection id with = (sent as %3D, signed as %253D)', '/prod/@connections/L0SM9cOFvHcCIhw%3D'],
    ['a plain id', '/prod/@connections/abcDEF123'],
  ])('signs %s exactly as the SDK signer does', async (_name, path) => {
    // Prepare
    const body = Buffer.from('{"v":1,"type":"request","body":"aGVsbG8="}');
    // Act
    const ours = sign({
      method: 'POST',
      host: 'abc123.execute-api.eu-west-1.amazonaws.com',
      path,
      body,
      region: 'eu-west-1',
      service: 'execute-api',
      credentials,
      date,
    });
    const theirs = await sdkSignature(path, body, credentials);
    // Assess
    expect(ours.authorization).toBe(theirs.authorization);
    expect(ours['x-amz-date']).toBe(theirs['x-amz-date']);
    expect(ours['x-amz-security-token']).toBe(credentials.sessionToken);
  });

  it('leaves the token header out with long-term credentials, and still matches', async () => {
    const { sessionToken: _t, ...longTerm } = credentials;
    const body = Buffer.from('x');
    const ours = sign({
      method: 'POST',
      host: 'abc123.execute-api.eu-west-1.amazonaws.com',
      path: '/prod/@connections/id%3D',
      body,
      region: 'eu-west-1',
      service: 'execute-api',
      credentials: longTerm,
      date,
    });
    expect(ours['x-amz-security-token']).toBeUndefined();
    expect(ours.authorization).toBe(
      (await sdkSignature('/prod/@connections/id%3D', body, longTerm)).authorization,
    );
  });

  it('changes the signature when the body changes', () => {
    const base = {
      method: 'POST' as const,
      host: 'h',
      path: '/p/@connections/x',
      region: 'us-east-1',
      service: 'execute-api',
      credentials,
      date,
    };
    expect(sign({ ...base, body: Buffer.from('a') }).authorization).not.toBe(
      sign({ ...base, body: Buffer.from('b') }).authorization,
    );
  });
});

describe('signedConnections', () => {
  let server: Server | undefined;
  afterEach(() => server?.close());

  /** A stand-in @connections endpoint: answers each request with the next status of `statuses`. */
  async function endpoint(statuses: number[]) {
    const seen: { method: string; url: string; body: string; auth: string; token: string }[] = [];
    server = createServer((req: IncomingMessage, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push({
          method: req.method ?? '',
          url: req.url ?? '',
          body: Buffer.concat(chunks).toString(),
          auth: String(req.headers.authorization ?? ''),
          token: String(req.headers['x-amz-security-token'] ?? ''),
        });
        const status = statuses.shift() ?? 200;
        if (status === 410) res.setHeader('x-amzn-errortype', 'GoneException');
        if (status === 413) res.setHeader('x-amzn-errortype', 'PayloadTooLargeException:http://internal');
        res
          .writeHead(status)
          .end(status >= 400 ? JSON.stringify({ message: `status ${status}` }) : undefined);
      });
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
    const url = `http://127.0.0.1:${(server!.address() as AddressInfo).port}/local`;
    const api = signedConnections({
      endpoint: url,
      region: 'us-east-1',
      credentials: async () => credentials,
      now: () => date,
    });
    return { api, seen };
  }

  it('posts the frame, signed, to /<stage>/@connections/<escaped id>', async () => {
    const { api, seen } = await endpoint([200]);
    expect(await api.post('abc=', Buffer.from('hello'))).toBe(true);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ method: 'POST', url: '/local/@connections/abc%3D', body: 'hello' });
    expect(seen[0]!.auth).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/20261202\/us-east-1\/execute-api\/aws4_request, SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=[0-9a-f]{64}$/,
    );
    expect(seen[0]!.token).toBe(credentials.sessionToken);
  });

  it('answers false on 410 Gone, and never retries it', async () => {
    const { api, seen } = await endpoint([410]);
    expect(await api.post('gone', Buffer.from('x'))).toBe(false);
    expect(seen).toHaveLength(1);
  });

  it('retries throttling and 5xx, then succeeds', async () => {
    const { api, seen } = await endpoint([429, 503, 200]);
    expect(await api.post('id', Buffer.from('x'))).toBe(true);
    expect(seen).toHaveLength(3);
  });

  it('throws a named error with the AWS error type for anything else', async () => {
    const { api } = await endpoint([413]);
    const err = await api.post('id', Buffer.from('x')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ManagementApiError);
    expect(err).toMatchObject({
      status: 413,
      type: 'PayloadTooLargeException',
      code: 'management_api_error',
    });
  });

  it('deletes a connection, false when it was gone already', async () => {
    const { api, seen } = await endpoint([204, 410]);
    expect(await api.remove('a')).toBe(true);
    expect(await api.remove('b')).toBe(false);
    expect(seen.map((s) => s.method)).toEqual(['DELETE', 'DELETE']);
  });
});
