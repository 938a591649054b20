import type { Socket } from 'node:net';

/** What an HTTP/2 client sends first when it knows the server speaks h2c (RFC 9113 3.4). */
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
/** A connection that says nothing is closed: the HTTP servers' own timeouts start later. */
const SNIFF_TIMEOUT_MS = 30_000;

/**
 * HTTP/1.1 and h2c by prior knowledge on one port. Node's HTTP/2 server only sniffs inside
 * TLS (ALPN), so the first bytes are read here: the HTTP/2 preface goes to the HTTP/2 server,
 * anything else to the HTTP/1.1 server, each getting the bytes back (`unshift`) with the
 * socket. This costs one read per connection, not per request.
 */
export function sniffProtocol(
  socket: Socket,
  onHttp1: (s: Socket) => void,
  onHttp2: (s: Socket) => void,
): void {
  let seen: Buffer | undefined;
  const hand = (to: (s: Socket) => void) => {
    socket.off('data', onData);
    socket.setTimeout(0);
    socket.pause();
    if (seen) socket.unshift(seen);
    to(socket);
    socket.resume();
  };
  const onData = (chunk: Buffer) => {
    seen = seen ? Buffer.concat([seen, chunk]) : chunk;
    const n = Math.min(seen.length, PREFACE.length);
    if (seen.compare(PREFACE, 0, n, 0, n) !== 0) hand(onHttp1);
    else if (seen.length >= PREFACE.length) hand(onHttp2);
    // Else a split preface so far: wait for the rest.
  };
  socket.setTimeout(SNIFF_TIMEOUT_MS, () => socket.destroy());
  socket.on('data', onData);
}
