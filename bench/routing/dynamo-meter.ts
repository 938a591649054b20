import { Agent, createServer, type IncomingMessage, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A counting HTTP proxy in front of the embedded DynamoDB. Every client in the process that is
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

function label(req: IncomingMessage, raw: Buffer): string {
  const target = String(req.headers['x-amz-target'] ?? '');
  const op = target.split('.').pop() || 'unknown';
  try {
    return `${op} ${keyKind(JSON.parse(raw.toString('utf8')) as Record<string, unknown>)}`;
  } catch {
    return `${op} -`;
  }
}

export async function startDynamoMeter(): Promise<DynamoMeter> {
  const counts: Counts = {};
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const meter = { target: undefined as string | undefined };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const name = label(req, raw);
      counts[name] = (counts[name] ?? 0) + 1;
      if (!meter.target) {
        res.writeHead(503).end();
        return;
      }
      const to = new URL(meter.target);
      const out = request(
        { host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers, agent },
        (upstream) => {
          res.writeHead(upstream.statusCode ?? 502, upstream.headers);
          // Lost conditional writes are expected events, but each is a call: counted apart too.
          if (upstream.statusCode === 400) {
            upstream.on('data', (c: Buffer) => {
              if (c.includes('ConditionalCheckFailed'))
                counts[CONDITION_FAILED] = (counts[CONDITION_FAILED] ?? 0) + 1;
            });
          }
          upstream.pipe(res);
        },
      );
      out.on('error', () => res.writeHead(502).end());
      out.end(raw);
    });
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
      agent.destroy();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
