import { Agent, request } from 'node:http';
import autocannon from 'autocannon';

export interface CannonResult {
  rps: number;
  /** ms, as autocannon records them (whole milliseconds). */
  p50: number;
  p99: number;
  requests: number;
  failed: number;
}

/** `connections` keep-alive clients, each sending its next request when the last is answered. */
export async function cannon(url: string, connections: number, seconds: number): Promise<CannonResult> {
  const r = await autocannon({ url, connections, duration: seconds, pipelining: 1 });
  return {
    rps: r.requests.total / seconds,
    p50: r.latency.p50,
    p99: r.latency.p99,
    requests: r.requests.total,
    failed: r.errors + r.timeouts + r.non2xx,
  };
}

/**
 * One keep-alive client, one request at a time, timed to the microsecond (autocannon's
 * millisecond buckets are too coarse to see a sub-millisecond hop).
 */
export async function sequentialMicros(url: string, count: number): Promise<number[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const target = new URL(url);
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = process.hrtime.bigint();
    await new Promise<void>((resolve, reject) => {
      const req = request(
        { agent, hostname: target.hostname, port: target.port, path: target.pathname },
        (res) => {
          res.resume();
          res.on('end', () => resolve());
        },
      );
      req.on('error', reject);
      req.end();
    });
    out.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  agent.destroy();
  return out;
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

export function median(values: number[]): number {
  return percentile(values, 50);
}
