import { SwitchyardError } from '../../shared/errors/errors.ts';
import type { RouterTarget } from './local-state.ts';

/** A small client for the router's HTTP API; errors keep the router's code and message. */
export class RouterApi {
  constructor(readonly target: RouterTarget) {}

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.target.httpUrl}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.target.token}`,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new SwitchyardError(
        'router_unreachable',
        `cannot reach the router at ${this.target.httpUrl} (${cause?.code ?? cause?.message ?? String(err)}): is it running? Start it with \`npm start\` or pass --router <url>`,
        503,
      );
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (!res.ok) {
      const e = (json as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new SwitchyardError(
        e?.code ?? `http_${res.status}`,
        e?.message ?? `HTTP ${res.status}: ${text.slice(0, 200)}`,
        res.status,
      );
    }
    return json as T;
  }
}
