import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type ResponseHead, ResponseParseError, ResponseParser } from './response-parser.ts';

interface Parsed {
  interim: number[];
  head?: ResponseHead;
  body: string;
  trailers?: string[];
}

function parse(pieces: Buffer[], headRequest = false, closeAfter = false): Parsed {
  const out: Parsed = { interim: [], body: '' };
  const p = new ResponseParser(headRequest, {
    head: (h, interim, whole) => {
      if (interim) out.interim.push(h.status);
      else out.head = h;
      if (whole) {
        out.body += whole.toString('latin1');
        out.trailers = [];
      }
    },
    body: (c) => {
      out.body += c.toString('latin1');
    },
    end: (t) => {
      out.trailers = t;
    },
  });
  for (const piece of pieces) p.feed(piece);
  if (closeAfter) p.close();
  return out;
}

/** The bytes cut at the given offsets: a parser must not care where reads split a response. */
function split(bytes: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of [...at, bytes.length]) {
    out.push(bytes.subarray(prev, c));
    prev = c;
  }
  return out.filter((b) => b.length > 0);
}

const CASES: { name: string; raw: string; body: string; trailers: string[]; interim?: number[] }[] = [
  {
    name: 'Content-Length',
    raw: 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n\r\nhello',
    body: 'hello',
    trailers: [],
  },
  {
    name: 'chunked with extensions and trailers',
    raw: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 11\r\n\r\n',
    body: 'hello world',
    trailers: ['X-Sum', '11'],
  },
  {
    name: '100 Continue, then the answer',
    raw: 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok',
    body: 'ok',
    trailers: [],
    interim: [100],
  },
  { name: '204 without a body', raw: 'HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n', body: '', trailers: [] },
];

describe('ResponseParser', () => {
  it.each(CASES)('$name: the same result however the bytes are split', ({ raw, body, trailers, interim }) => {
    const bytes = Buffer.from(raw, 'latin1');
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 12 }), (cuts) => {
        const r = parse(split(bytes, cuts));
        expect(r.body).toBe(body);
        expect(r.trailers).toEqual(trailers);
        expect(r.interim).toEqual(interim ?? []);
      }),
    );
  });

  it('carries any body intact through chunked framing, split anywhere', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 40 }), { maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (chunks, cuts) => {
          const framed = Buffer.concat([
            Buffer.from('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n'),
            ...chunks.flatMap((c) => [
              Buffer.from(`${c.length.toString(16)}\r\n`),
              Buffer.from(c),
              Buffer.from('\r\n'),
            ]),
            Buffer.from('0\r\n\r\n'),
          ]);
          const r = parse(split(framed, cuts));
          expect(Buffer.from(r.body, 'latin1')).toEqual(Buffer.concat(chunks.map((c) => Buffer.from(c))));
          expect(r.trailers).toEqual([]);
        },
      ),
    );
  });

  it('reads a body without length to the close, and says the connection ends', () => {
    const r = parse([Buffer.from('HTTP/1.0 200 OK\r\n\r\nall of it')], false, true);
    expect([r.body, r.head?.closes]).toEqual(['all of it', true]);
  });

  it('ignores the length of an answer to HEAD, and reads the Keep-Alive hint', () => {
    const r = parse(
      [Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 99\r\nKeep-Alive: timeout=5\r\n\r\n')],
      true,
    );
    expect([r.body, r.trailers, r.head?.keepAliveSeconds, r.head?.closes]).toEqual(['', [], 5, false]);
  });

  it.each([
    ['a bad status line', 'HTTP/2 200 OK\r\n\r\n'],
    ['conflicting lengths', 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx'],
    ['a bad chunk size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'],
    ['folded headers', 'HTTP/1.1 200 OK\r\nX-A: 1\r\n  more\r\n\r\n'],
    ['bytes after the end', 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxy'],
  ])('refuses %s', (_name, raw) => {
    expect(() => parse([Buffer.from(raw)])).toThrow(ResponseParseError);
  });

  it('calls a response cut short by the upstream closing an error', () => {
    expect(() =>
      parse([Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc')], false, true),
    ).toThrow(/closed the connection mid-response/);
  });
});
