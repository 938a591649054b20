import type { InboundRequest } from './inbound.ts';

export type ReadResult =
  | { whole: true; body: Buffer }
  /** Past the limit: what was read so far, the request paused with the rest still on it. */
  | { whole: false; prefix: Buffer[] };

/**
 * Reads a request body for a developer, who gets requests whole, but never more than
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
