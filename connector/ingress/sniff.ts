import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';

/** What an HTTP/2 client sends first when it knows the server speaks h2c (RFC 9113 3.4). */
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
/** A connection that says nothing is closed: the HTTP servers' own timeouts start later. */
const SNIFF_TIMEOUT_MS = 30_000;

/**
 * HTTP/1.1 and h2c by prior knowledge on one port. Node's HTTP/2 server only sniffs inside
 * TLS (ALPN), so the first bytes are read here: the HTTP/2 preface goes to the HTTP/2 server,
 * anything else to the HTTP/1.1 server. This costs one read per connection, not per request.
 *
 * The HTTP/1.1 server takes the socket itself with the bytes put back (`unshift`): it parses
 * what is buffered before reading the socket natively. The HTTP/2 server reads the socket's
 * handle directly and would never see bytes put back, so it gets a stream that replays them
 * ahead of the socket's data.
 */
export function sniffProtocol(
  socket: Socket,
  onHttp1: (s: Socket) => void,
  onHttp2: (s: Duplex, original: Socket) => void,
): void {
  let seen: Buffer | undefined;
  const done = () => {
    socket.off('data', onData);
    socket.setTimeout(0);
  };
  const onData = (chunk: Buffer) => {
    seen = seen ? Buffer.concat([seen, chunk]) : chunk;
    const n = Math.min(seen.length, PREFACE.length);
    if (seen.compare(PREFACE, 0, n, 0, n) !== 0) {
      done();
      socket.pause();
      socket.unshift(seen);
      onHttp1(socket);
      socket.resume();
    } else if (seen.length >= PREFACE.length) {
      done();
      onHttp2(replaying(socket, seen), socket);
    }
    // Else a split preface so far: wait for the rest.
  };
  socket.setTimeout(SNIFF_TIMEOUT_MS, () => socket.destroy());
  socket.on('data', onData);
}

/** The socket as a stream that first yields `head`, then whatever the socket reads. */
function replaying(socket: Socket, head: Buffer): Duplex {
  const stream = new Duplex({
    read: () => socket.resume(),
    write: (chunk, encoding, callback) => socket.write(chunk, encoding, callback),
    final: (callback) => socket.end(callback),
    destroy: (err, callback) => {
      socket.destroy(err ?? undefined);
      callback(err);
    },
  });
  stream.push(head);
  socket.on('data', (chunk: Buffer) => {
    if (!stream.push(chunk)) socket.pause();
  });
  socket.on('end', () => stream.push(null));
  socket.on('error', (err) => stream.destroy(err));
  socket.on('close', () => stream.destroy());
  return stream;
}
