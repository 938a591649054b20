import type {
  ForwardedRequest,
  ForwardedResponse,
  Match,
  RequestHead,
  Target,
  TrafficRouter,
} from '../../connector/ingress/types.ts';
import { compileFilter, type HttpFilter } from '../../shared/protocol/filter.ts';

/** An in-memory subscription table for ingress tests: real filters, recorded deliveries. */
export class FakeTrafficRouter implements TrafficRouter {
  readonly subs: { target: Target; mode: 'steal' | 'mirror'; matcher: ReturnType<typeof compileFilter> }[] =
    [];
  readonly mirrored: ForwardedRequest[] = [];
  readonly stolen: ForwardedRequest[] = [];
  /** What the developer answers a stolen request with; undefined falls back to the upstream. */
  answer: (req: ForwardedRequest) => ForwardedResponse | undefined = () => undefined;

  subscribe(mode: 'steal' | 'mirror', filter: HttpFilter, sessionId = `s${this.subs.length}`): void {
    this.subs.push({ target: { sessionId, subId: 'sub' }, mode, matcher: compileFilter(filter) });
  }

  match(_service: string, head: RequestHead): Match {
    const hits = this.subs.filter((s) => s.matcher(head));
    const steal = hits.find((s) => s.mode === 'steal')?.target;
    return {
      ...(steal ? { steal } : {}),
      mirrors: hits.filter((s) => s.mode === 'mirror').map((s) => s.target),
    };
  }

  async steal(_target: Target, req: ForwardedRequest): Promise<ForwardedResponse | undefined> {
    this.stolen.push(req);
    return this.answer(req);
  }

  mirror(_target: Target, req: ForwardedRequest): void {
    this.mirrored.push(req);
  }
}
