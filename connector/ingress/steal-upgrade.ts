import { type IncomingMessage, STATUS_CODES, validateHeaderName, validateHeaderValue } from 'node:http';
import type { Duplex, Readable } from 'node:stream';
import { newRequestId } from '../request-id.ts';
import type { HandlerContext } from './handle.ts';
import { clientResponseHeaders, flattenHeaders, fromHeaderObject } from './headers.ts';
import type { ForwardedResponse, Target } from './types.ts';

/**
 * Steals an `Upgrade` request (a WebSocket, or any other protocol): the developer gets it as a
 * `request` with `stream: true` and `upgrade: true`, its `Upgrade`/`Connection` headers kept.
 * Until the answer is taken the client's socket stays paused: nothing the client sends after the
 * head is read, so nothing needs replaying if the upstream serves it after all. Then:
 * - `101` (streamed): the head goes to the client and the connection becomes a tunnel: the
 *   client's bytes go to the developer as `data` (the bytes read with the head first), its end as
 *   `close`; the answer's stream is written to the client, its end ends the client's side. No
 *   deadline applies any more; the session ending (or the connector stopping) cuts it.
 * - any other status: relayed, then the connection closes (as an upstream's refusal would be).
 * Resolves `false` when the developer did not take it (no answer in time, gone, `fallback`),
 * with the client's socket untouched: the caller hands it to the upstream, `head` included.
 */
export async function stealUpgrade(
  ctx: HandlerContext,
  req: IncomingMessage,
  client: Duplex,
  head: Buffer,
  target: Target,
): Promise<boolean> {
  const router = ctx.router;
  const requestId = newRequestId();
  const protocol = String(req.headers.upgrade);
  // Hop-by-hop headers are dropped for the developer, except the two the app needs to upgrade.
  const headers = { ...flattenHeaders(req.rawHeaders), connection: 'upgrade', upgrade: protocol };
  client.pause();
  // Node's HTTP server let go of the socket at the upgrade: a reset must not go unhandled.
  client.on('error', () => client.destroy());
  const answer = await router.steal(target, {
    requestId,
    method: req.method ?? 'GET',
    path: req.url ?? '/',
    headers,
    body: Buffer.alloc(0),
    stream: true,
    upgrade: true,
  });
  if (!answer) return false;
  ctx.stats.stolen++;
  if (client.destroyed) {
    // Gone while the developer answered: a streamed answer's end tells them (`close`, reason).
    if (!Buffer.isBuffer(answer.body)) answer.body.destroy();
    return true;
  }
  // An interim status other than 101 is no answer to an upgrade; a header Node would refuse
  // could split the head written on the raw socket.
  const flat = answer.status < 200 && answer.status !== 101 ? undefined : responseHeaders(answer);
  if (!flat) {
    ctx.log({
      level: 'WARN',
      message: `a stolen upgrade was answered with an invalid head (status ${answer.status}); the client gets a 502`,
      service: ctx.service,
      sessionId: target.sessionId,
      path: req.url,
    });
    if (!Buffer.isBuffer(answer.body)) answer.body.destroy();
    client.end('HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
    return true;
  }
  if (answer.status !== 101) {
    refuseWith(client, answer, flat);
    return true;
  }
  flat.push('connection', 'upgrade', 'upgrade', answer.headers.upgrade ?? protocol);
  client.write(headLines(101, flat));
  if (Buffer.isBuffer(answer.body)) {
    // A whole `101` leaves nothing to carry the app's side of the tunnel: it ends here.
    client.end(answer.body);
    return true;
  }
  tunnel(ctx, target, requestId, client, head, answer.body);
  return true;
}

/** Joins the client's socket to the developer's side of the tunnel, both ways. */
function tunnel(
  ctx: HandlerContext,
  target: Target,
  requestId: string,
  client: Duplex,
  head: Buffer,
  fromApp: Readable,
): void {
  const router = ctx.router;
  let clientEnded = false;
  if (head.length > 0) router.requestBody?.(target, requestId, head);
  client.on('data', (chunk: Buffer) => {
    // The router connection is behind: stop reading the client until it catches up.
    if (router.requestBody?.(target, requestId, chunk) === false && router.whenDrained) {
      client.pause();
      router.whenDrained(() => client.resume());
    }
  });
  client.once('end', () => {
    clientEnded = true;
    router.endRequestBody?.(target, requestId);
  });
  client.once('close', () => {
    // The app's side still open: ending its stream tells the developer (`close`, with a reason).
    if (!fromApp.readableEnded && !fromApp.destroyed) fromApp.destroy();
    else if (!clientEnded) router.endRequestBody?.(target, requestId, 'the client went away');
  });
  // The developer's `close` ends the client's side; a cut one (a reason, the session gone, the
  // connector stopping) destroys the connection.
  fromApp.pipe(client);
  fromApp.once('error', () => client.destroy());
  client.resume();
}

/** The answer's headers as the client gets them, or undefined when one cannot be written. */
function responseHeaders(answer: ForwardedResponse): string[] | undefined {
  const flat = clientResponseHeaders(fromHeaderObject(answer.headers)).filter(
    (_, i, all) => all[i - (i % 2)]!.toLowerCase() !== 'content-length',
  );
  try {
    for (let i = 0; i < flat.length; i += 2) {
      validateHeaderName(flat[i]!);
      validateHeaderValue(flat[i]!, flat[i + 1]!);
    }
    if (answer.headers.upgrade !== undefined) validateHeaderValue('upgrade', answer.headers.upgrade);
  } catch {
    return undefined;
  }
  return flat;
}

/** The app declined to switch: its answer is relayed, then the connection closes. */
function refuseWith(client: Duplex, answer: ForwardedResponse, flat: string[]): void {
  const body = answer.body;
  if (Buffer.isBuffer(body)) flat.push('content-length', String(body.length));
  flat.push('connection', 'close');
  // What the client sends now is for a protocol never switched to: read and dropped.
  client.resume();
  client.write(headLines(answer.status, flat));
  if (Buffer.isBuffer(body)) {
    client.end(body);
    return;
  }
  // No length: the body ends with the connection. A cut answer cuts it (never a clean end).
  client.once('close', () => body.destroy());
  body.once('error', () => client.destroy());
  body.pipe(client);
}

function headLines(status: number, flat: string[]): string {
  let out = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n`;
  for (let i = 0; i < flat.length; i += 2) out += `${flat[i]}: ${flat[i + 1]}\r\n`;
  return `${out}\r\n`;
}
