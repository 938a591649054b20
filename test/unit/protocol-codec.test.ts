import { describe, expect, it } from 'vitest';
import { encodeMessage, parseMessage, parseMessageObject } from '../../shared/protocol/codec.ts';
import { EXAMPLES } from '../../shared/protocol/examples.ts';
import { DEFAULT_MAX_MESSAGE_BYTES } from '../../shared/protocol/limits.ts';
import { MESSAGE_SCHEMAS, type Message, MessageSchema, message } from '../../shared/protocol/messages.ts';
import { ProtocolError, type ProtocolErrorCode } from '../../shared/protocol/protocol-error.ts';
import { MESSAGE_TYPES } from '../../shared/protocol/types.ts';

/** The ProtocolError a parse throws (fails the test when it does not throw one). */
function parseError(text: string, maxBytes?: number): ProtocolError {
  try {
    parseMessage(text, maxBytes === undefined ? {} : { maxBytes });
  } catch (err) {
    expect(err).toBeInstanceOf(ProtocolError);
    return err as ProtocolError;
  }
  throw new Error(`expected ${text.slice(0, 80)} to be refused`);
}

const withFields = (type: keyof typeof EXAMPLES, fields: Record<string, unknown>): string =>
  JSON.stringify({ ...EXAMPLES[type], ...fields });

describe('parseMessage: every message type', () => {
  it('has a schema and an example for every type, and nothing else', () => {
    expect(Object.keys(MESSAGE_SCHEMAS).sort()).toEqual([...MESSAGE_TYPES].sort());
    expect(Object.keys(EXAMPLES).sort()).toEqual([...MESSAGE_TYPES].sort());
  });

  it.each(MESSAGE_TYPES)('parses the %s example and encodes it back unchanged', (type) => {
    // Prepare
    const text = JSON.stringify(EXAMPLES[type]);
    // Act
    const parsed = parseMessage(text);
    // Assess
    expect(parsed.type).toBe(type);
    expect(parsed).toEqual(EXAMPLES[type]);
    expect(JSON.parse(encodeMessage(parsed))).toEqual(EXAMPLES[type]);
  });

  it.each(MESSAGE_TYPES)('the discriminated union accepts the %s example too', (type) => {
    expect(MessageSchema.safeParse(EXAMPLES[type]).success).toBe(true);
  });

  it('keeps fields it does not know, so a newer peer can add optional ones', () => {
    const parsed = parseMessage(withFields('ping', { trace: 'abc' })) as Message & { trace?: string };
    expect(parsed.trace).toBe('abc');
  });

  it('builds a message of this version with message()', () => {
    const ping = message('ping', { nonce: 'x' });
    expect(ping).toEqual({ v: 1, type: 'ping', nonce: 'x' });
    expect(parseMessageObject(ping)).toEqual(ping);
  });
});

describe('parseMessage: refusals, one per error code', () => {
  const cases: {
    name: string;
    text: string;
    code: ProtocolErrorCode;
    mentions: RegExp;
    maxBytes?: number;
  }[] = [
    { name: 'not JSON', text: '{"v":1,', code: 'malformed_json', mentions: /not valid JSON/ },
    { name: 'empty text', text: '', code: 'malformed_json', mentions: /not valid JSON/ },
    { name: 'an array', text: '[1]', code: 'invalid_message', mentions: /got an array/ },
    { name: 'a string', text: '"ping"', code: 'invalid_message', mentions: /got a string/ },
    { name: 'null', text: 'null', code: 'invalid_message', mentions: /got null/ },
    {
      name: 'no version',
      text: '{"type":"ping"}',
      code: 'invalid_message',
      mentions: /"v" is missing.*"v": 1/,
    },
    {
      name: 'version 2',
      text: '{"v":2,"type":"ping"}',
      code: 'unsupported_version',
      mentions: /version 2.*speaks version 1/,
    },
    {
      name: 'version "1"',
      text: '{"v":"1","type":"ping"}',
      code: 'unsupported_version',
      mentions: /"1" is not supported/,
    },
    { name: 'no type', text: '{"v":1}', code: 'invalid_message', mentions: /"type" is missing/ },
    {
      name: 'future type',
      text: '{"v":1,"type":"resume","sessionId":"s"}',
      code: 'unknown_type',
      mentions: /"resume".*env\.get/,
    },
    {
      name: 'type not a string',
      text: '{"v":1,"type":7}',
      code: 'unknown_type',
      mentions: /unknown message type 7/,
    },
    {
      name: 'a missing required field',
      text: withFields('env.get', { service: undefined }),
      code: 'invalid_message',
      mentions: /invalid env\.get message: field "service": is required/,
    },
    {
      name: 'a fractional seq',
      text: withFields('env.get', { seq: 1.5 }),
      code: 'invalid_message',
      mentions: /field "seq": must be a whole number/,
    },
    {
      name: 'a relative file path',
      text: withFields('file.read', { path: 'etc/hosts' }),
      code: 'invalid_message',
      mentions: /field "path": an absolute path/,
    },
    {
      name: 'a reqId with the reserved ":"',
      text: withFields('env.get', { reqId: 'eu-west:1' }),
      code: 'invalid_message',
      mentions: /field "reqId":.*no ":"/,
    },
    {
      name: 'a DNS family other than 4 or 6',
      text: withFields('dns.resolve', { family: 5 }),
      code: 'invalid_message',
      mentions: /field "family"/,
    },
    {
      name: 'a port out of range',
      text: withFields('outgoing.connect', { port: 70000 }),
      code: 'invalid_message',
      mentions: /field "port"/,
    },
    {
      name: 'data that is not base64',
      text: withFields('outgoing.data', { data: 'not base64!' }),
      code: 'invalid_message',
      mentions: /field "data": standard base64/,
    },
    {
      name: 'a file.result with nothing in it',
      text: JSON.stringify({ v: 1, type: 'file.result', reqId: 'r', seq: 1 }),
      code: 'invalid_message',
      mentions: /carries "data", "stat" or "entries"/,
    },
    {
      name: 'a subscribe mode that does not exist',
      text: withFields('subscribe', { mode: 'copy' }),
      code: 'invalid_message',
      mentions: /field "mode"/,
    },
    {
      name: 'a header regex with a backreference',
      text: withFields('subscribe', { filter: { headers: { 'x-user': '(a)\\1' } } }),
      code: 'invalid_message',
      mentions: /field "filter\.headers\.x-user": invalid regex: .*backreferences/,
    },
    {
      name: 'a path regex with a lookahead',
      text: withFields('subscribe', { filter: { path: '^/api(?=/v2)' } }),
      code: 'invalid_message',
      mentions: /field "filter\.path": invalid regex/,
    },
    {
      name: 'an unclosed bracket',
      text: withFields('subscribe', { filter: { path: '[a-' } }),
      code: 'invalid_message',
      mentions: /field "filter\.path": invalid regex: not a valid RE2 pattern/,
    },
    {
      name: 'a header name with a space',
      text: withFields('subscribe', { filter: { headers: { 'x user': 'a' } } }),
      code: 'invalid_message',
      mentions: /field "filter\.headers\.x user"/,
    },
    {
      name: 'the same header filtered twice in different case',
      text: withFields('subscribe', { filter: { headers: { 'X-User': 'a', 'x-user': 'b' } } }),
      code: 'invalid_message',
      mentions: /filtered twice/,
    },
    {
      name: 'a status code out of range',
      text: withFields('response', { status: 99 }),
      code: 'invalid_message',
      mentions: /field "status"/,
    },
    {
      name: 'a child.create without sessionId',
      text: withFields('child.create', { sessionId: undefined }),
      code: 'invalid_message',
      mentions: /field "sessionId": is required/,
    },
    {
      name: 'a child.create spec over the size limit',
      text: withFields('child.create', { spec: { blob: 'x'.repeat(300 * 1024) } }),
      code: 'invalid_message',
      mentions: /spec is larger than 262144 bytes/,
      // A spec this big travels in chunks; the reassembled text is parsed with a larger limit.
      maxBytes: 1024 * 1024,
    },
    {
      name: 'a child.create spec with an invalid subscription filter',
      text: withFields('child.create', {
        spec: { subscriptions: [{ subId: 's', service: 'orders', mode: 'steal', filter: { path: '(' } }] },
      }),
      code: 'invalid_message',
      mentions: /field "spec\.subscriptions\.0\.filter\.path": invalid regex/,
    },
    {
      name: 'an error code in capitals',
      text: withFields('error', { code: 'NotFound' }),
      code: 'invalid_message',
      mentions: /field "code": a lowercase code/,
    },
    {
      name: 'a chunk whose seq is not below total',
      text: withFields('chunk', { seq: 3, total: 3 }),
      code: 'invalid_message',
      mentions: /field "seq": seq must be below total/,
    },
    {
      name: 'a chunk carrying a chunk',
      text: withFields('chunk', { head: { type: 'chunk' } }),
      code: 'invalid_message',
      mentions: /field "head\.type"/,
    },
    {
      name: 'a chunk head with a field the router does not route on',
      text: withFields('chunk', { head: { type: 'request', body: 'x' } }),
      code: 'invalid_message',
      mentions: /field "head"/,
    },
  ];

  it.each(cases)('refuses $name with $code', ({ text, code, mentions, maxBytes }) => {
    const err = parseError(text, maxBytes);
    expect(err.code).toBe(code);
    expect(err.message).toMatch(mentions);
  });

  it('refuses a text over the size limit with too_large, measured in bytes', () => {
    // 'é' is two UTF-8 bytes: 40 000 chars fit a 64 KiB char count but not in bytes.
    const text = withFields('ping', { nonce: undefined, pad: 'é'.repeat(40_000) });
    expect(text.length).toBeLessThan(64 * 1024);
    const err = parseError(text, 64 * 1024);
    expect(err.code).toBe('too_large');
    expect(err.httpStatus).toBe(413);
    expect(err.message).toMatch(/over the limit of 65536.*chunks/);
  });

  it('accepts a text exactly at the limit and refuses one byte more', () => {
    const base = withFields('ping', { nonce: undefined, pad: '' });
    const limit = 1000;
    const fill = (n: number) => withFields('ping', { nonce: undefined, pad: 'a'.repeat(n) });
    const exact = fill(limit - Buffer.byteLength(base));
    expect(Buffer.byteLength(exact)).toBe(limit);
    expect(parseMessage(exact, { maxBytes: limit }).type).toBe('ping');
    expect(parseError(fill(limit - Buffer.byteLength(base) + 1), limit).code).toBe('too_large');
  });

  it('defaults to the API Gateway message limit', () => {
    expect(DEFAULT_MAX_MESSAGE_BYTES).toBe(128 * 1024);
    const text = withFields('ping', { pad: 'a'.repeat(128 * 1024) });
    expect(parseError(text).code).toBe('too_large');
  });

  it('lists at most three problems and counts the rest', () => {
    const err = parseError(JSON.stringify({ v: 1, type: 'request' }));
    expect(err.message).toMatch(/\(and \d+ more\)$/);
    expect(err.details?.fields).toEqual(expect.arrayContaining(['requestId', 'subId', 'mode', 'method']));
  });
});

describe('encodeMessage', () => {
  it('refuses to send an invalid message, so the bug shows at the sender', () => {
    const bad = { ...EXAMPLES['env.get'], service: 'Not A Service' } as Message;
    expect(() => encodeMessage(bad)).toThrow(ProtocolError);
    expect(encodeMessage(bad, { validate: false })).toContain('Not A Service');
  });
});

describe('base64 fields', () => {
  it.each([
    ['', true],
    ['aGk=', true],
    ['aGVsbG8=', true],
    ['aGVsbA==', true],
    ['aGVsbA=', false],
    ['aGVsbA===', false],
    ['aG=sbA==', false],
    ['aGVs bA==', false],
    ['aGVsbA-_', false],
  ])('%j is valid base64: %s', (data, valid) => {
    const text = JSON.stringify({ ...EXAMPLES['outgoing.data'], data });
    if (valid) expect(parseMessage(text).type).toBe('outgoing.data');
    else expect(() => parseMessage(text)).toThrow(/field "data": standard base64/);
  });
});

describe('router-built messages', () => {
  it('accepts a session.status whose errors are {code, message} objects or text', () => {
    const status = {
      ...EXAMPLES['session.status'],
      clusters: {
        west: {
          state: 'disconnected',
          roles: ['workload'],
          error: { code: 'cluster_unavailable', message: 'gone' },
        },
        east: { state: 'failed', error: 'service not found' },
      },
      error: { code: 'partial', message: 'one cluster is down' },
    };
    expect(parseMessage(JSON.stringify(status))).toMatchObject({
      clusters: { west: { state: 'disconnected' } },
    });
    const bad = { ...status, clusters: { west: { state: 'failed', error: { code: 'x' } } } };
    expect(() => parseMessage(JSON.stringify(bad))).toThrow(/field "clusters\.west\.error"/);
  });

  it('accepts a child.create spec with keys it does not know and branches as a map', () => {
    const create = {
      ...EXAMPLES['child.create'],
      spec: { sessionId: 'ses-7f3a', roles: ['workload'], subscriptions: [], branches: { orders: 'b1' } },
    };
    expect(parseMessage(JSON.stringify(create)).type).toBe('child.create');
  });
});
