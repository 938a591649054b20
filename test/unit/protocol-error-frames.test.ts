import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseMessage, parseMessageObject } from '../../shared/protocol/codec.ts';
import { clip, echo } from '../../shared/protocol/echo.ts';
import { errorFrame, internalErrorFrame, replyIdsOf } from '../../shared/protocol/error-frame.ts';
import { ERROR_TEXT_MAX } from '../../shared/protocol/fields.ts';
import { jsonDepth, parseJsonText } from '../../shared/protocol/json-text.ts';
import { ECHO_MAX_CHARS, MAX_JSON_DEPTH } from '../../shared/protocol/limits.ts';
import type { ProtocolError } from '../../shared/protocol/protocol-error.ts';
import { nested, nestedText } from '../helpers/hostile-messages.ts';

function refusal(text: string): ProtocolError {
  try {
    parseMessage(text);
  } catch (err) {
    return err as ProtocolError;
  }
  throw new Error(`accepted: ${text.slice(0, 100)}`);
}

describe('echo: a bad value in an error text', () => {
  it.each([
    ['a short string, quoted', 'pnig', '"pnig"'],
    ['a long string, cut with its length', 'x'.repeat(5000), `"${'x'.repeat(ECHO_MAX_CHARS)}"… (5000 chars)`],
    ['a number', 2, '2'],
    ['null', null, 'null'],
    ['an object, by its size', { a: 1, b: 2 }, 'an object of 2 keys'],
    ['an array, by its length', [1], 'an array of 1 item'],
    ['a 100,000-deep value, without recursing', nested(100_000), 'an array of 1 item'],
  ])('names %s', (_what, value, expected) => {
    expect(echo(value)).toBe(expected);
  });

  it('clips texts to the limit, saying how long they were', () => {
    const clipped = clip('y'.repeat(10_000), 100);
    expect(clipped.length).toBeLessThanOrEqual(100);
    expect(clipped).toMatch(/… \(10000 chars\)$/);
    expect(clip('short', 100)).toBe('short');
  });
});

describe('errorFrame: valid by construction', () => {
  it('is a valid error whatever code, text and ids it is given', () => {
    fc.assert(
      fc.property(
        fc.anything(),
        fc.oneof(fc.anything(), fc.string({ maxLength: 20_000 })),
        fc.dictionary(
          fc.constantFrom('sessionId', 'reqId', 'seq', 'subId', 'requestId', 'connId', 'x'),
          fc.anything(),
        ),
        (code, text, ids) => {
          const frame = errorFrame(code, text, ids);
          expect(parseMessageObject(frame)).toMatchObject({ type: 'error' });
          expect(frame.message.length).toBeLessThanOrEqual(ERROR_TEXT_MAX);
        },
      ),
      { seed: 1202, numRuns: 300 },
    );
  });

  it('keeps a valid code and the ids that are valid, and drops the rest', () => {
    const frame = errorFrame('not_found', 'gone', {
      reqId: 'r1',
      seq: 3,
      connId: 'bad id with spaces',
      x: 1,
    });
    expect(frame).toEqual({ v: 1, type: 'error', code: 'not_found', message: 'gone', reqId: 'r1', seq: 3 });
    expect(errorFrame('ENOTDIR', 'x').code).toBe('internal');
  });

  it('says nothing but the incident id for an internal error', () => {
    expect(internalErrorFrame('abc123', { reqId: 'r9' })).toMatchObject({
      code: 'internal',
      reqId: 'r9',
      message: expect.stringContaining('incident abc123'),
    });
  });

  it('reads reply ids from anything without trusting them', () => {
    expect(replyIdsOf({ reqId: 'r1', seq: -1, sessionId: 's'.repeat(500), requestId: 'east:7' })).toEqual({
      reqId: 'r1',
      requestId: 'east:7',
    });
    expect(replyIdsOf('not an object')).toEqual({});
  });
});

describe('parsing hostile texts', () => {
  it('counts nesting without parsing, ignoring brackets in strings', () => {
    expect(jsonDepth('{"a":[1,{"b":"[[[[{{{"}]}')).toBe(3);
    expect(jsonDepth('"\\"[["')).toBe(0);
    // An even run of backslashes does not escape the quote after it.
    expect(jsonDepth('["a\\\\",[[1]]]')).toBe(3);
    expect(jsonDepth('"unterminated [[[')).toBe(0);
    expect(jsonDepth(nestedText(100_000), 40)).toBe(41);
  });

  it('refuses nesting past the limit before parsing, and takes it up to the limit', () => {
    expect(() => parseJsonText(nestedText(MAX_JSON_DEPTH + 1))).toThrow(/deeper than 32 levels/);
    expect(parseJsonText(nestedText(MAX_JSON_DEPTH))).toEqual(nested(MAX_JSON_DEPTH));
    expect(refusal(`{"v":1,"type":"ping","x":${nestedText(60_000)}}`).code).toBe('too_deep');
  });

  it.each([
    ['a 5,000-char type', JSON.stringify({ v: 1, type: 't'.repeat(5000) }), 'unknown_type'],
    ['a 6,000-char version', JSON.stringify({ v: 'v'.repeat(6000), type: 'ping' }), 'unsupported_version'],
    ['an object version', JSON.stringify({ v: nested(20, 'object'), type: 'ping' }), 'unsupported_version'],
    [
      'a 20,000-char header name',
      JSON.stringify({
        v: 1,
        type: 'response',
        requestId: 'e:1',
        status: 200,
        headers: { ['h'.repeat(20_000)]: 'x' },
      }),
      'invalid_message',
    ],
  ])('refuses %s with a text that fits an error frame', (_what, text, code) => {
    const err = refusal(text);
    expect(err.code).toBe(code);
    expect(err.message.length).toBeLessThan(1000);
    expect(JSON.stringify(err.details ?? {}).length).toBeLessThan(2000);
  });

  it('names the ids of a refused message that were valid, so the answer can name them', () => {
    const err = refusal(
      JSON.stringify({ v: 1, type: 'file.stat', reqId: 'r1', seq: 4, service: 'api', path: 7 }),
    );
    expect(err.details?.replyTo).toEqual({ reqId: 'r1', seq: 4 });
  });
});
