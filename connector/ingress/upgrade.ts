import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Duplex } from 'node:stream';
import type { SwitchyardError } from '../../shared/errors/errors.ts';
import { decide } from './decide.ts';
import { gatewayErrorBody, UpstreamTimeoutError, UpstreamUnreachableError } from './errors.ts';
import type { HandlerContext } from './handle.ts';
import { clientResponseHeaders, upstreamRequestHeaders } from './headers.ts';
import { stealUpgrade } from './steal-upgrade.ts';

export interface UpgradeContext extends HandlerContext {
  /** The upstream's HTTP/1.1 origin: upgrades go over HTTP/1.1 whatever `upstreamProtocol` says. */
  origin: string;
}

/**
 * An `Upgrade` request (WebSocket or any other protocol): a developer whose steal filter matches
 * its head takes it (steal-upgrade.ts); otherwise, or when they do not, it goes to the upstream
 * untouched. Upgrades are never mirrored: an upgraded connection has no body to copy.
 */
export function handleUpgrade(ctx: UpgradeContext, req: IncomingMessage, client: Duplex, head: Buffer): void {
  const decision = decide(ctx.router, ctx.service, {
    method: req.method ?? 'GET',
    path: req.url ?? '/',
    headers: req.headers,
  });
  if (!decision.steal || !ctx.router.requestBody) {
    passUpgrade(ctx, req, client, head);
    return;
  }
  stealUpgrade(ctx, req, client, head, decision.steal).then(
    (taken) => {
      // Not taken: the client's socket was never read past the head, the upstream gets it all.
      if (!taken && !client.destroyed) passUpgrade(ctx, req, client, head);
    },
    (err: unknown) => {
      ctx.log({ level: 'ERROR', message: 'stolen upgrade failed', service: ctx.service, error: String(err) });
      client.destroy();
    },
  );
}

/**
 * The upstream's part: the upgrade headers go along, its `101` comes back as it sent it, and
 * the two sockets are joined byte for byte. A refusal (any other status) is relayed as is.
 */
function passUpgrade(ctx: UpgradeContext, req: IncomingMessage, client: Duplex, head: Buffer): void {
  ctx.stats.passedThrough++;
  const url = new URL(ctx.origin);
  const headers = upstreamRequestHeaders(
    req.rawHeaders,
    { remoteAddress: req.socket.remoteAddress, proto: 'http' },
    url.host,
  );
  headers.push('connection', 'upgrade', 'upgrade', String(req.headers.upgrade));
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  let settled = false;
  const upstream = send({
    hostname: url.hostname.replace(/^\[|\]$/g, ''),
    port: Number(url.port) || (url.protocol === 'https:' ? 443 : 80),
    method: req.method,
    path: req.url,
    headers,
    setHost: false,
    // An upgraded socket leaves the pool for good; there is nothing to reuse.
    agent: false,
  });
  const timer = setTimeout(() => {
    if (settled) return;
    settled = true;
    upstream.destroy();
    refuse(client, new UpstreamTimeoutError(ctx.service, ctx.timeoutMs));
  }, ctx.timeoutMs);
  client.on('error', () => upstream.destroy());
  upstream.on('upgrade', (res, socket, upstreamHead) => {
    settled = true;
    clearTimeout(timer);
    client.write(headLines(res));
    if (upstreamHead.length > 0) client.write(upstreamHead);
    if (head.length > 0) socket.write(head);
    join(client, socket);
  });
  upstream.on('response', (res) => {
    // The upstream declined to switch: relay its answer, then close (the client asked to upgrade
    // this connection, so it is not reused).
    settled = true;
    clearTimeout(timer);
    const flat = clientResponseHeaders(res.rawHeaders).filter(
      (_, i, all) => all[i - (i % 2)]!.toLowerCase() !== 'content-length',
    );
    flat.push('connection', 'close');
    client.write(headLines(res, flat));
    res.pipe(client);
    res.once('error', () => client.destroy());
  });
  upstream.on('error', (err: NodeJS.ErrnoException) => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    refuse(client, new UpstreamUnreachableError(ctx.service, err.code ?? err.message));
  });
  upstream.end();
}

function headLines(res: IncomingMessage, flat: string[] = res.rawHeaders): string {
  let out = `HTTP/1.1 ${res.statusCode} ${res.statusMessage ?? ''}\r\n`;
  for (let i = 0; i < flat.length; i += 2) out += `${flat[i]}: ${flat[i + 1]}\r\n`;
  return `${out}\r\n`;
}

function join(a: Duplex, b: Duplex): void {
  const end = () => {
    a.destroy();
    b.destroy();
  };
  a.on('error', end);
  b.on('error', end);
  a.on('close', end);
  b.on('close', end);
  a.pipe(b);
  b.pipe(a);
}

function refuse(client: Duplex, err: SwitchyardError): void {
  const body = gatewayErrorBody(err);
  client.end(
    `HTTP/1.1 ${err.httpStatus} ${err.httpStatus === 504 ? 'Gateway Timeout' : 'Bad Gateway'}\r\n` +
      `content-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
      `x-switchyard-error: ${err.code}\r\nconnection: close\r\n\r\n${body}`,
  );
}
