import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { eventually } from '../../test/helpers/local-runtime.ts';
import { watchLocalApp } from './local-app-watch.ts';

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

describe('watchLocalApp', () => {
  it('warns at once when nothing listens, keeps warning, and says when the app is up', async () => {
    const port = await freePort();
    const lines: string[] = [];
    const watch = watchLocalApp(
      port,
      { warn: (t) => lines.push(`! ${t}`), info: (t) => lines.push(`✓ ${t}`) },
      { pollMs: 20, repeatMs: 60 },
    );
    try {
      await eventually(() => lines.length >= 1, 5_000, 'the first warning');
      expect(lines[0]).toContain(`nothing listens on 127.0.0.1:${port} (--to)`);
      await eventually(() => lines.filter((l) => l.startsWith('!')).length >= 2, 5_000, 'a repeated warning');
      const app = createServer((_q, s) => s.end());
      await new Promise<void>((r) => app.listen(port, '127.0.0.1', () => r()));
      try {
        await eventually(() => lines.some((l) => l.startsWith('✓')), 5_000, 'the app to be seen');
        const warnings = lines.filter((l) => l.startsWith('!')).length;
        await new Promise((r) => setTimeout(r, 200));
        expect(lines.filter((l) => l.startsWith('!')).length).toBe(warnings);
      } finally {
        app.close();
      }
    } finally {
      watch.stop();
    }
  });

  it('says nothing while the app listens', async () => {
    const app = createServer((_q, s) => s.end());
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', () => r()));
    const lines: string[] = [];
    const watch = watchLocalApp(
      (app.address() as AddressInfo).port,
      { warn: (t) => lines.push(t), info: (t) => lines.push(t) },
      { pollMs: 20, repeatMs: 20 },
    );
    await new Promise((r) => setTimeout(r, 200));
    watch.stop();
    app.close();
    expect(lines).toEqual([]);
  });
});
