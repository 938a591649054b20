import type { InboundRequest } from './inbound.ts';

export type ReadResult =
  | { whole: true; body: Buffer }
  /** Past the limit: what was read so far, the request paused with the rest still on it. */
  | { whole: false; prefix: Buffer[] };

/**
 * Reads a request body whole for a developer (a router that takes no streamed body), but never more than
 * `maxBytes`: past that the read stops and the caller replays the prefix to the upstream ahead
 * of the rest of the stream, so the request is never lost and memory stays bounded.
 */
export function readUpTo(req: InboundRequest, maxBytes: number): Promise<ReadResult> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (size > maxBytes) {
        req.pause();
        cleanup();
        resolve({ whole: false, prefix: chunks });
      }
    };
    const onEnd = () => {
      cleanup();
      resolve({ whole: true, body: Buffer.concat(chunks, size) });
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

/**
 * What a streamed request body keeps for its fallback: every chunk sent to the developer, up to
 * `maxBytes`, so that if the developer gives no answer the upstream gets the body whole (the
 * kept part, then the rest of the stream). Once the developer's answer is taken it is dropped.
 */
export class ReplayBuffer {
  private kept: Buffer[] = [];
  private size = 0;

  constructor(private readonly maxBytes: number) {}

  /** Keeps `chunk`; false once the body is above the limit (the chunk is still kept, to replay). */
  push(chunk: Buffer): boolean {
    this.kept.push(chunk);
    this.size += chunk.length;
    return this.size <= this.maxBytes;
  }

  get chunks(): Buffer[] {
    return this.kept;
  }

  get bytes(): number {
    return this.size;
  }

  /** No fallback any more (the developer answered): stop holding memory for it. */
  drop(): void {
    this.kept = [];
    this.size = 0;
  }
}
