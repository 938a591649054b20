import { describe, expect, it } from 'vitest';
import { type Listed, otherStealers } from './sessions.ts';

const now = Date.parse('2026-12-02T12:00:00Z');
const session = (over: Partial<Listed> & { id: string }): Listed =>
  ({
    state: 'ready',
    createdAt: '2026-12-02T11:58:00Z',
    clusters: {},
    subscriptions: [],
    clientConnected: true,
    ...over,
  }) as Listed;

describe('otherStealers: the warning an intercept prints about your other sessions', () => {
  it('names each other live session stealing the same service, and says when its CLI is gone', () => {
    const list = [
      session({ id: 'mine', subscriptions: [{ service: 'api', mode: 'steal' }] }),
      session({ id: 'stale', subscriptions: [{ service: 'api', mode: 'steal' }], clientConnected: false }),
      session({ id: 'live2', state: 'pending', subscriptions: [{ service: 'api', mode: 'steal' }] }),
    ];
    expect(otherStealers(list, 'mine', 'api', now)).toEqual([
      'session stale (2m old, no CLI connected) also steals api: a request both match goes to one of them. `switchyard sessions end stale` ends it',
      'session live2 (2m old) also steals api: a request both match goes to one of them. `switchyard sessions end live2` ends it',
    ]);
  });

  it('says nothing of mirrors, other services, ended sessions or the session itself', () => {
    const list = [
      session({ id: 'mine', subscriptions: [{ service: 'api', mode: 'steal' }] }),
      session({ id: 'mirror', subscriptions: [{ service: 'api', mode: 'mirror' }] }),
      session({ id: 'other', subscriptions: [{ service: 'web', mode: 'steal' }] }),
      session({ id: 'closed', state: 'closed', subscriptions: [{ service: 'api', mode: 'steal' }] }),
      session({ id: 'bare' }),
    ];
    expect(otherStealers(list, 'mine', 'api', now)).toEqual([]);
  });
});
