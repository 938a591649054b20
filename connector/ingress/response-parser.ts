/**
 * An HTTP/1.1 response parser for the upstream side, fed the socket's chunks as they come.
 * Node's own client (ClientRequest, IncomingMessage, the agent) costs about as much CPU per
 * request as the rest of the proxy twice over; this does only what a proxy needs: the head as a
 * flat list, the body de-framed (Content-Length, chunked with trailers, or up to close).
 */

export interface ResponseHead {
  status: number;
  /** Flat `[name, value, ...]` as received. */
  headers: string[];
  /** HTTP/1.0, or `Connection: close`: the socket ends with this response. */
  closes: boolean;
  /** Seconds from `Keep-Alive: timeout=N`, when the upstream said. */
  keepAliveSeconds?: number;
}

export interface ParserEvents {
  /**
   * A final (>= 200) head, or an interim 1xx one (`interim` true). `whole` is the complete body
   * when it arrived with the head (empty for a response without one): no `body` or `end` follow.
   */
  head(head: ResponseHead, interim: boolean, whole?: Buffer): void;
  body(chunk: Buffer): void;
  /** The response is complete; `trailers` as a flat list. */
  end(trailers: string[]): void;
}

export class ResponseParseError extends Error {
  readonly code = 'upstream_bad_response';
}

const CRLF = Buffer.from('\r\n');
const MAX_HEAD = 64 * 1024;

type Framing = { kind: 'none' } | { kind: 'length'; left: number } | { kind: 'chunked' } | { kind: 'close' };
type State = 'head' | 'body' | 'chunk-size' | 'chunk-data' | 'chunk-crlf' | 'trailers' | 'done';

export class ResponseParser {
  private state: State = 'head';
  private pending?: Buffer;
  private framing: Framing = { kind: 'none' };
  private chunkLeft = 0;
  private trailers: string[] = [];

  constructor(
    /** A response to HEAD has no body whatever its headers say. */
    private readonly headRequest: boolean,
    private readonly events: ParserEvents,
  ) {}

  get complete(): boolean {
    return this.state === 'done';
  }

  /** Whether the response has started (any byte of a final head seen). */
  get started(): boolean {
    return this.state !== 'head' || this.pending !== undefined;
  }

  /** Feeds bytes; throws ResponseParseError on a malformed response. Bytes after the end are an error. */
  feed(data: Buffer): void {
    const buf = this.pending ? Buffer.concat([this.pending, data]) : data;
    this.pending = undefined;
    let at = 0;
    while (at < buf.length) {
      switch (this.state) {
        case 'head': {
          const end = buf.indexOf('\r\n\r\n', at, 'latin1');
          if (end < 0) {
            this.keep(buf, at, MAX_HEAD, 'response head');
            return;
          }
          const head = this.parseHead(buf.toString('latin1', at, end));
          at = end + 4;
          if (head.status < 200) {
            this.events.head(head, true);
            break;
          }
          this.framing = this.framingOf(head);
          const f = this.framing;
          if (f.kind === 'none' || (f.kind === 'length' && buf.length - at >= f.left)) {
            // The whole answer is in hand (most small API answers come in one read): handed over
            // as one buffer, so the proxy writes it out with no stream in between.
            const n = f.kind === 'length' ? f.left : 0;
            const whole = buf.subarray(at, at + n);
            at += n;
            this.state = 'done';
            this.events.head(head, false, whole);
            break;
          }
          this.events.head(head, false);
          this.state =
            this.framing.kind === 'none' ? 'done' : this.framing.kind === 'chunked' ? 'chunk-size' : 'body';
          if (this.state === 'done') this.events.end([]);
          break;
        }
        case 'body': {
          const f = this.framing;
          if (f.kind === 'close') {
            this.events.body(at === 0 ? buf : buf.subarray(at));
            return;
          }
          if (f.kind !== 'length') throw new ResponseParseError('internal: body without a length');
          const n = Math.min(f.left, buf.length - at);
          this.events.body(at === 0 && n === buf.length ? buf : buf.subarray(at, at + n));
          f.left -= n;
          at += n;
          if (f.left === 0) this.finish([]);
          break;
        }
        case 'chunk-size': {
          const end = buf.indexOf(CRLF, at);
          if (end < 0) {
            this.keep(buf, at, 4096, 'chunk size line');
            return;
          }
          const line = buf.toString('latin1', at, end);
          const size = Number.parseInt(line, 16);
          if (!/^[0-9a-fA-F]+/.test(line) || Number.isNaN(size))
            throw new ResponseParseError(`bad chunk size '${line}'`);
          at = end + 2;
          this.chunkLeft = size;
          this.state = size === 0 ? 'trailers' : 'chunk-data';
          break;
        }
        case 'chunk-data': {
          const n = Math.min(this.chunkLeft, buf.length - at);
          this.events.body(buf.subarray(at, at + n));
          this.chunkLeft -= n;
          at += n;
          if (this.chunkLeft === 0) this.state = 'chunk-crlf';
          break;
        }
        case 'chunk-crlf': {
          if (buf.length - at < 2) {
            this.keep(buf, at, 2, 'chunk end');
            return;
          }
          if (buf[at] !== 13 || buf[at + 1] !== 10)
            throw new ResponseParseError('chunk not followed by CRLF');
          at += 2;
          this.state = 'chunk-size';
          break;
        }
        case 'trailers': {
          const end = buf.indexOf(CRLF, at);
          if (end < 0) {
            this.keep(buf, at, MAX_HEAD, 'trailers');
            return;
          }
          const line = buf.toString('latin1', at, end);
          at = end + 2;
          if (line === '') {
            this.finish(this.trailers);
            break;
          }
          const colon = line.indexOf(':');
          if (colon <= 0) throw new ResponseParseError('bad trailer line');
          this.trailers.push(line.slice(0, colon), line.slice(colon + 1).trim());
          break;
        }
        case 'done':
          throw new ResponseParseError('bytes after the end of the response');
      }
    }
  }

  /** The socket ended: completes a close-delimited body, else the response was cut short. */
  close(): void {
    if (this.state === 'body' && this.framing.kind === 'close') this.finish([]);
    else if (this.state !== 'done')
      throw new ResponseParseError('upstream closed the connection mid-response');
  }

  private finish(trailers: string[]): void {
    this.state = 'done';
    this.events.end(trailers);
  }

  private keep(buf: Buffer, at: number, limit: number, what: string): void {
    if (buf.length - at > limit) throw new ResponseParseError(`${what} longer than ${limit} bytes`);
    this.pending = at === 0 ? buf : buf.subarray(at);
  }

  private parseHead(text: string): ResponseHead {
    const lines = text.split('\r\n');
    const m = /^HTTP\/1\.([01]) (\d{3})(?: |$)/.exec(lines[0] ?? '');
    if (!m) throw new ResponseParseError(`bad status line '${(lines[0] ?? '').slice(0, 64)}'`);
    const headers: string[] = [];
    let closes = m[1] === '0';
    let keepAliveSeconds: number | undefined;
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      const colon = line.indexOf(':');
      if (colon <= 0 || line.charCodeAt(0) === 32 || line.charCodeAt(0) === 9) {
        throw new ResponseParseError('bad header line (obsolete line folding is refused)');
      }
      const name = line.slice(0, colon);
      const value = line.slice(colon + 1).trim();
      headers.push(name, value);
      const lower = name.length === 10 || name.length === 17 ? name.toLowerCase() : '';
      if (lower === 'connection') {
        if (/(^|,)\s*close\s*(,|$)/i.test(value)) closes = true;
        else if (m[1] === '0' && /keep-alive/i.test(value)) closes = false;
      } else if (name.length === 10 && name.toLowerCase() === 'keep-alive') {
        const t = /timeout=(\d+)/i.exec(value);
        if (t) keepAliveSeconds = Number(t[1]);
      }
    }
    return {
      status: Number(m[2]),
      headers,
      closes,
      ...(keepAliveSeconds !== undefined ? { keepAliveSeconds } : {}),
    };
  }

  private framingOf(head: ResponseHead): Framing {
    if (this.headRequest || head.status === 204 || head.status === 304) return { kind: 'none' };
    let length: number | undefined;
    for (let i = 0; i < head.headers.length; i += 2) {
      const name = head.headers[i]!;
      if (name.length === 17 && name.toLowerCase() === 'transfer-encoding') {
        // Chunked wins over any Content-Length (RFC 9112 6.3); another coding runs to close.
        return /(^|,)\s*chunked\s*$/i.test(head.headers[i + 1]!) ? { kind: 'chunked' } : { kind: 'close' };
      }
      if (name.length === 14 && name.toLowerCase() === 'content-length') {
        const n = Number(head.headers[i + 1]);
        if (!Number.isSafeInteger(n) || n < 0 || (length !== undefined && length !== n)) {
          throw new ResponseParseError('bad or conflicting Content-Length');
        }
        length = n;
      }
    }
    if (length === 0) return { kind: 'none' };
    if (length !== undefined) return { kind: 'length', left: length };
    return { kind: 'close' };
  }
}
