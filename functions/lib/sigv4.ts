import { createHmac, hash } from 'node:crypto';

/**
 * AWS Signature Version 4 for one kind of request: a POST or DELETE with a body, signed over
 * `host` and `x-amz-date` (and `x-amz-security-token` with temporary credentials), plus any
 * headers the caller names. That is all the management API's `PostToConnection` and
 * `DeleteConnection`, and DynamoDB's JSON protocol, need, at three hashes per request; the SDK's general signer walks every header and query parameter of every request.
 * The derived signing key changes once a day (and with the credentials): it is kept.
 */
export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface SignInput {
  method: 'POST' | 'DELETE' | 'GET';
  host: string;
  /** The path as sent on the wire (already percent-encoded). */
  path: string;
  body: Buffer;
  region: string;
  service: string;
  credentials: Credentials;
  date: Date;
  /** More headers to sign (lower-case names), e.g. DynamoDB's `x-amz-target` and `content-type`. */
  headers?: Record<string, string>;
}

// The one-shot hash: no Hash object per call.
const sha256 = (data: string | Buffer): string => hash('sha256', data, 'hex');
const hmac = (key: Buffer | string, data: string): Buffer => createHmac('sha256', key).update(data).digest();

/** RFC 3986 escaping, as SigV4 wants it (encodeURIComponent leaves !'()* alone). */
export const escapeUri = (s: string): string =>
  encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/**
 * Every service but S3 signs the path encoded once more than it is sent (the SDK's
 * `signingEscapePath`): a connection id's `=` goes out as `%3D` and is signed as `%253D`.
 */
export function canonicalPath(path: string): string {
  return path
    .split('/')
    .map((segment) => escapeUri(segment))
    .join('/');
}

const keys = new Map<string, Buffer>();

function signingKey(secret: string, day: string, region: string, service: string): Buffer {
  const id = `${day}/${region}/${service}/${secret}`;
  let key = keys.get(id);
  if (!key) {
    key = hmac(hmac(hmac(hmac(`AWS4${secret}`, day), region), service), 'aws4_request');
    // One key per day and credentials: old ones are of no use any more.
    if (keys.size > 8) keys.clear();
    keys.set(id, key);
  }
  return key;
}

let lastStamp = { second: Number.NaN, stamp: '' };

/** `20261202T101500Z` (kept for the second it names: calls come many per second). */
export function amzDate(date: Date): string {
  const second = Math.floor(date.getTime() / 1000);
  if (second !== lastStamp.second) {
    const iso = date.toISOString();
    lastStamp = {
      second,
      stamp: `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`,
    };
  }
  return lastStamp.stamp;
}

/**
 * The headers to send: `host`, `x-amz-date`, `x-amz-security-token` (when any) and `authorization`
 * (the caller sends the extra signed `headers` itself).
 */
export function sign(input: SignInput): Record<string, string> {
  const { credentials: c } = input;
  const stamp = amzDate(input.date);
  const day = stamp.slice(0, 8);
  const headers: [string, string][] = [
    ['host', input.host],
    ['x-amz-date', stamp],
  ];
  if (c.sessionToken) headers.push(['x-amz-security-token', c.sessionToken]);
  const signedExtra = input.headers ? Object.entries(input.headers) : [];
  if (signedExtra.length > 0) {
    headers.push(...signedExtra);
    headers.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }
  const signedHeaders = headers.map(([k]) => k).join(';');
  const canonical = [
    input.method,
    canonicalPath(input.path),
    '',
    ...headers.map(([k, v]) => `${k}:${v.trim()}`),
    '',
    signedHeaders,
    sha256(input.body),
  ].join('\n');
  const scope = `${day}/${input.region}/${input.service}/aws4_request`;
  const toSign = `AWS4-HMAC-SHA256\n${stamp}\n${scope}\n${sha256(canonical)}`;
  const signature = createHmac('sha256', signingKey(c.secretAccessKey, day, input.region, input.service))
    .update(toSign)
    .digest('hex');
  return {
    host: input.host,
    'x-amz-date': stamp,
    ...(c.sessionToken ? { 'x-amz-security-token': c.sessionToken } : {}),
    authorization: `AWS4-HMAC-SHA256 Credential=${c.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`,
  };
}
