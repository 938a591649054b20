import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { parseConnectorConfig } from './config.ts';
import { OutgoingTunnels } from './outgoing.ts';
import { resolveHost } from './stateful.ts';

describe('the connector config’s hosts', () => {
  const config = parseConnectorConfig({
    hosts: { 'DB.internal': '127.0.0.1' },
    outgoing: { allow: ['db.internal:*'] },
  });

  it('are resolved before DNS, whatever the case of the name', async () => {
    expect(config.hosts).toEqual({ 'db.internal': '127.0.0.1' });
    expect(await resolveHost('db.internal', undefined, config.hosts)).toEqual(['127.0.0.1']);
    expect(await resolveHost('Db.Internal', 4, config.hosts)).toEqual(['127.0.0.1']);
    await expect(resolveHost('db.internal', undefined, {})).rejects.toThrow(/cannot resolve "db.internal"/);
  });

  it('refuses what is not an IP address', () => {
    expect(() => parseConnectorConfig({ hosts: { 'db.internal': 'elsewhere' } })).toThrow(/hosts/);
  });

  it('carry outgoing connections to the alias, allowed by the name asked for', async () => {
    const server = createServer((s) => s.end('hello through the alias'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const { port } = server.address() as AddressInfo;
    const received: Buffer[] = [];
    const closed = new Promise<void>((resolve) => {
      const tunnels = new OutgoingTunnels(
        () => config.outgoing.allow,
        (_s, _c, data) => received.push(data),
        () => resolve(),
        () => config.hosts,
      );
      void tunnels.open('s1', 'c1', 'db.internal', port);
    });
    await closed;
    server.close();
    expect(Buffer.concat(received).toString()).toBe('hello through the alias');
    const denied = new OutgoingTunnels(
      () => ['other:*'],
      () => {},
      () => {},
      () => config.hosts,
    );
    await expect(denied.open('s1', 'c2', 'db.internal', port)).rejects.toThrow(/not allowed/);
  });
});
