import type { InboundRequest } from './inbound.ts';
import { ReplayBuffer } from './replay-buffer.ts';
import type { ForwardedRequest, ForwardedResponse, Target, TrafficRouter } from './types.ts';

/** How a streamed steal ended, for the caller to serve or fall back. */
export type StreamedSteal =
  | { answer: ForwardedResponse }
  /** To the upstream: the body sent so far (whole when `bodyDone`), the rest still on `req`. */
  | { answer: undefined; prefix: Buffer[]; bodyDone: boolean; tooLarge: boolean };

/** Whether a request has a body to stream (a GET without one goes whole, in one frame). */
export function hasBody(req: InboundRequest): boolean {
  const h = req.headers;
  if (h['content-length'] !== undefined) return h['content-length'] !== '0';
  if ('stream' in req) return !req.stream.endAfterHeaders;
  return h['transfer-encoding'] !== undefined;
}

/**
 * Steals a request whose body streams to the developer as it arrives (`request` with
 * `stream: true`, then `data` per chunk, then `close`), while a replay buffer keeps what was
 * sent for the fallback. Until the developer's answer is taken:
 * - the body past `maxBytes`: the developer is told (`close` with a reason) and the upstream
 *   serves the request whole;
 * - no answer in time, or the developer gone: the upstream serves it whole.
 * Once the answer is taken, the rest of the body still goes to the developer, unbuffered.
 */
export async function stealStreaming(
  router: TrafficRouter,
  req: InboundRequest,
  target: Target,
  request: ForwardedRequest,
  maxBytes: number,
): Promise<StreamedSteal> {
  const replay = new ReplayBuffer(maxBytes);
  let answered = false;
  let gaveUp = false;
  let tooLarge = false;
  let bodyDone = false;
  const onData = (chunk: Buffer) => {
    if (gaveUp) return;
    if (!answered && !replay.push(chunk)) {
      tooLarge = true;
      gaveUp = true;
      req.pause();
      router.endRequestBody?.(target, request.requestId, 'request_too_large');
      return;
    }
    // The router connection is behind: stop reading the client until it catches up.
    if (router.requestBody?.(target, request.requestId, chunk) === false && router.whenDrained) {
      req.pause();
      router.whenDrained(() => {
        if (!gaveUp) req.resume();
      });
    }
  };
  const onEnd = () => {
    bodyDone = true;
    if (!gaveUp) router.endRequestBody?.(target, request.requestId);
  };
  const onError = () => {
    if (!gaveUp) router.endRequestBody?.(target, request.requestId, 'the client went away');
  };
  req.on('data', onData);
  req.once('end', onEnd);
  req.once('error', onError);
  const answer = await router.steal(target, { ...request, stream: true });
  if (answer) {
    answered = true;
    replay.drop();
    // Answered just as the body went over the limit: drain the rest, the answer stands.
    if (tooLarge) req.resume();
    return { answer };
  }
  gaveUp = true;
  req.off('data', onData);
  req.off('end', onEnd);
  if (!bodyDone) req.pause();
  return {
    answer: undefined,
    prefix: replay.chunks,
    bodyDone,
    tooLarge,
  };
}
