import type { OutgoingHttpHeaders } from 'node:http';

/**
 * Header rewriting as a reverse proxy does it. Headers travel as flat `[name, value, ...]`
 * lists (Node's rawHeaders) so repeated headers (Set-Cookie) and their order survive, and a
 * pass-through request costs no object building.
 */

// About one connection, never forwarded (RFC 9110 7.6.1). `te` is re-added for HTTP/2 when it
// is `trailers`, which gRPC requires.
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'proxy-authorization',
  'proxy-authenticate',
  'http2-settings',
]);

export interface ClientSide {
  /** The peer that connected to the ingress. */
  remoteAddress: string | undefined;
  /** `http` here: the ingress serves cleartext; TLS ends at the Ingress controller in front. */
  proto: string;
}

/** Extra hop-by-hop names a sender listed in `Connection` (RFC 9110 7.6.1). */
function connectionListed(raw: string[]): Set<string> | undefined {
  let listed: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    // Length first: most heads have a dozen headers and one or no `Connection`.
    if (name.length !== 10 || name.toLowerCase() !== 'connection') continue;
    listed ??= new Set();
    for (const t of raw[i + 1]!.split(',')) {
      const name = t.trim().toLowerCase();
      if (name) listed.add(name);
    }
  }
  return listed;
}

function dropped(name: string, listed: Set<string> | undefined): boolean {
  return name.charCodeAt(0) === 58 /* ':' pseudo-header */ || HOP_BY_HOP.has(name) || !!listed?.has(name);
}

/**
 * The head sent upstream: hop-by-hop headers dropped, `Host` set to the upstream's,
 * `X-Forwarded-For` extended with the client's address, and `X-Forwarded-Proto` /
 * `X-Forwarded-Host` kept when a proxy in front set them, else set from this hop.
 */
export function upstreamRequestHeaders(raw: string[], client: ClientSide, upstreamHost: string): string[] {
  const listed = connectionListed(raw);
  const out: string[] = [];
  let xff: string | undefined;
  let host: string | undefined;
  let proto = false;
  let forwardedHost = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (lower === 'host' || lower === ':authority') {
      host ??= raw[i + 1];
      continue;
    }
    if (lower === 'x-forwarded-for') {
      xff = xff === undefined ? raw[i + 1] : `${xff}, ${raw[i + 1]}`;
      continue;
    }
    if (dropped(lower, listed)) continue;
    if (lower === 'x-forwarded-proto') proto = true;
    else if (lower === 'x-forwarded-host') forwardedHost = true;
    out.push(name, raw[i + 1]!);
  }
  out.push('host', upstreamHost);
  const remote = client.remoteAddress ?? 'unknown';
  out.push('x-forwarded-for', xff === undefined ? remote : `${xff}, ${remote}`);
  if (!proto) out.push('x-forwarded-proto', client.proto);
  if (!forwardedHost && host !== undefined) out.push('x-forwarded-host', host);
  return out;
}

/** The upstream's response head as the client gets it: hop-by-hop headers dropped. */
export function clientResponseHeaders(raw: string[]): string[] {
  const listed = connectionListed(raw);
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    if (!dropped(raw[i]!.toLowerCase(), listed)) out.push(raw[i]!, raw[i + 1]!);
  }
  return out;
}

/**
 * A flat list as an HTTP/2 header object: names lower-cased (HTTP/2 requires it), repeats
 * kept as arrays, `host` turned into `:authority`.
 */
export function toHttp2Headers(flat: string[], pseudo: OutgoingHttpHeaders = {}): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = { ...pseudo };
  for (let i = 0; i < flat.length; i += 2) {
    let name = flat[i]!.toLowerCase();
    if (name === 'host') name = ':authority';
    const value = flat[i + 1]!;
    const prior = out[name];
    if (prior === undefined) out[name] = value;
    else out[name] = Array.isArray(prior) ? [...prior, value] : [String(prior), value];
  }
  return out;
}

/** Header object (HTTP/2 style) to a flat list, pseudo-headers left out. */
export function fromHeaderObject(headers: Record<string, string | string[] | number | undefined>): string[] {
  const out: string[] = [];
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || name.charCodeAt(0) === 58) continue;
    if (Array.isArray(value)) for (const v of value) out.push(name, v);
    else out.push(name, String(value));
  }
  return out;
}

/** One value per name (joined per RFC 9110), hop-by-hop dropped: how a developer sees a request. */
export function flattenHeaders(raw: string[]): Record<string, string> {
  const listed = connectionListed(raw);
  const out: Record<string, string> = {};
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (dropped(name, listed)) continue;
    const prior = out[name];
    out[name] = prior === undefined ? raw[i + 1]! : `${prior}, ${raw[i + 1]}`;
  }
  return out;
}

/** Is `te: trailers` among the request's headers? gRPC servers insist on it over HTTP/2. */
export function wantsTrailers(raw: string[]): boolean {
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() === 'te' && /(^|,)\s*trailers\s*(,|$)/i.test(raw[i + 1]!)) return true;
  }
  return false;
}
