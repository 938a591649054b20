import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { DropReason } from '../../client-transport/reconnecting-socket.ts';
import { readiness } from './admin-server.ts';
import { RouterLink } from './router-link.ts';

function link() {
  const peer = new EventEmitter();
  const logs: Record<string, unknown>[] = [];
  let now = 1_000_000;
  const l = new RouterLink(
    peer,
    (line) => logs.push(line),
    () => now,
  );
  return {
    peer,
    logs,
    link: l,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

const unreachable: DropReason = {
  why: 'connection closed (connect ECONNREFUSED)',
  retryInMs: 400,
  attempt: 2,
};
const refused: DropReason = {
  why: 'missing or invalid bearer token',
  retryInMs: 800,
  attempt: 3,
  refused: { status: 401, code: 'unauthorized', message: 'missing or invalid bearer token' },
};

describe('RouterLink', () => {
  it('follows the peer: connecting, unreachable, refused, connected', () => {
    const t = link();
    expect(t.link.status.state).toBe('connecting');
    t.peer.emit('drop', unreachable);
    expect(t.link.status).toMatchObject({ state: 'unreachable', reason: unreachable.why, retryInMs: 400 });
    t.peer.emit('drop', refused);
    expect(t.link.status).toMatchObject({ state: 'refused', refused: { status: 401, code: 'unauthorized' } });
    t.peer.emit('open');
    expect(t.link.status).toEqual({ state: 'connected', since: expect.any(String) });
  });

  it('logs FAIL-OPEN loudly on each change and every 30 s while it lasts, not on every retry', () => {
    const t = link();
    t.peer.emit('drop', unreachable);
    t.advance(1_000);
    t.peer.emit('drop', unreachable);
    t.advance(1_000);
    t.peer.emit('drop', refused);
    const loud = () => t.logs.filter((l) => l.level === 'ERROR' && String(l.message).startsWith('FAIL-OPEN'));
    expect(loud().map((l) => l.message)).toEqual([
      expect.stringContaining('cannot be reached'),
      expect.stringContaining('refuses this connector'),
    ]);
    t.advance(31_000);
    t.peer.emit('drop', refused);
    expect(loud()).toHaveLength(3);
    expect(loud()[2]).toMatchObject({ downForMs: 33_000 });
    t.peer.emit('open');
    expect(t.logs.at(-1)?.message).toBe('connected to the router after 33 s without it; sessions resume');
  });

  it('keeps the connector ready while the router is away: only the detail says so', () => {
    const t = link();
    t.peer.emit('drop', refused);
    const serving = readiness({ phase: 'serving', router: t.link.status });
    expect(serving.ready).toBe(true);
    expect(serving.body.detail).toBe('serving; router: refused (traffic passes through to the upstream)');
    expect(readiness({ phase: 'draining', router: t.link.status }).ready).toBe(false);
    expect(readiness({ phase: 'starting', router: t.link.status }).ready).toBe(false);
  });
});
