import {
  type AddressInfo,
  connect,
  createServer as createNetServer,
  type Server as NetServer,
  type Socket,
} from 'node:net';

/**
 * A counter at the wire in front of the embedded DynamoDB. Every client in the process that is
 * pointed at it (the router's, through SWITCHYARD_DYNAMODB_ENDPOINT) is counted at the wire, by
 * operation and by the kind of key it touched (`GetItem CONN`, `Query SESSION`), so a figure
 * per routed message says exactly which reads remain and why. Counting at the wire rather than
 * in SDK middleware also catches clients the benchmark never sees.
 */
export interface DynamoMeter {
  endpoint: string;
  /** Where calls go on to (set once the runtime's dynalite is listening). */
  target: string | undefined;
  snapshot(): Counts;
  stop(): Promise<void>;
}

/** `<Operation> <key kind>` -> calls. */
export type Counts = Record<string, number>;

/** Not an operation: how many of the counted writes lost their condition. */
export const CONDITION_FAILED = '(of which ConditionalCheckFailed)';

const READS = new Set(['GetItem', 'Query', 'Scan', 'BatchGetItem']);
const WRITES = new Set(['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem']);

export function isRead(label: string): boolean {
  return READS.has(label.split(' ')[0]!);
}

export function isWrite(label: string): boolean {
  return WRITES.has(label.split(' ')[0]!);
}

export function diff(after: Counts, before: Counts): Counts {
  const out: Counts = {};
  for (const [k, v] of Object.entries(after)) {
    const d = v - (before[k] ?? 0);
    if (d) out[k] = d;
  }
  return out;
}

export function total(c: Counts, pick: (label: string) => boolean): number {
  return Object.entries(c)
    .filter(([k]) => pick(k))
    .reduce((a, [, v]) => a + v, 0);
}

type AttrValue = { S?: string };

/** The key kind a call touched: the part of its partition key before `#` (or the index for a query by kind). */
function keyKind(body: Record<string, unknown>): string {
  // A batch write: the key of its first request (a session's children share its partition).
  const batch = body.RequestItems as Record<string, { PutRequest?: { Item?: unknown } }[]> | undefined;
  const firstPut = batch ? Object.values(batch)[0]?.[0]?.PutRequest?.Item : undefined;
  const key = (body.Key ?? body.Item ?? firstPut) as Record<string, AttrValue> | undefined;
  const pk = key?.pk?.S;
  if (pk) return pk.split('#')[0]!;
  const values = body.ExpressionAttributeValues as Record<string, AttrValue> | undefined;
  const first = values ? Object.values(values).find((v) => typeof v.S === 'string')?.S : undefined;
  if (first) return `${body.IndexName ? 'by-kind ' : ''}${first.split('#')[0]}`;
  return '-';
}

/** `<Operation> <key kind>` of one request, from its `x-amz-target` and its JSON body. */
function label(target: string, body: Buffer): string {
  const op = target.split('.').pop() || 'unknown';
  try {
    return `${op} ${keyKind(JSON.parse(body.toString('utf8')) as Record<string, unknown>)}`;
  } catch {
    return `${op} -`;
  }
}

const HEAD_END = Buffer.from('\r\n\r\n');

/**
 * Reads the HTTP/1.1 requests of one connection as they pass (bytes are forwarded untouched, as
 * they come): each complete request is labelled once its `content-length` bytes are in.
 */
class RequestReader {
  private buf: Buffer = Buffer.alloc(0);
  constructor(private readonly onRequest: (target: string, body: Buffer) => void) {}

  push(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    for (;;) {
      const end = this.buf.indexOf(HEAD_END);
      if (end < 0) return;
      const head = this.buf.subarray(0, end).toString('latin1');
      const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
      const total = end + HEAD_END.length + length;
      if (this.buf.length < total) return;
      const target = /\r\nx-amz-target:\s*([^\r]*)/i.exec(head)?.[1] ?? '';
      this.onRequest(target, this.buf.subarray(end + HEAD_END.length, total));
      this.buf = this.buf.subarray(total);
    }
  }
}

/**
 * A TCP splice, not an HTTP proxy: each connection is piped to the target as it is, and the
 * request bytes are also read to count them. An HTTP proxy costs a parse and a new request per
 * call on the benchmark's one thread (about 0.3 ms here, which was a tenth of a 10-cluster
 * session's time); a splice costs the extra socket writes only, as close to no meter as a
 * meter at the wire can be. The clients send `content-length` (never chunked), as the SDK and
 * the router's signed client do.
 */
export async function startDynamoMeter(): Promise<DynamoMeter> {
  const counts: Counts = {};
  const meter = { target: undefined as string | undefined };
  const sockets = new Set<Socket>();
  const server: NetServer = createNetServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    if (!meter.target) {
      client.end('HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
      return;
    }
    const to = new URL(meter.target);
    const upstream = connect({ host: to.hostname, port: Number(to.port) });
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    const reader = new RequestReader((target, body) => {
      const name = label(target, body);
      counts[name] = (counts[name] ?? 0) + 1;
    });
    client.on('data', (c: Buffer) => {
      reader.push(c);
      upstream.write(c);
    });
    // Lost conditional writes are expected events, but each is a call: counted apart too.
    upstream.on('data', (c: Buffer) => {
      if (c.includes('ConditionalCheckFailed'))
        counts[CONDITION_FAILED] = (counts[CONDITION_FAILED] ?? 0) + 1;
      client.write(c);
    });
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get target() {
      return meter.target;
    },
    set target(t) {
      meter.target = t;
    },
    snapshot: () => ({ ...counts }),
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
