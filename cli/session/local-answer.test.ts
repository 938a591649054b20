import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sink, until } from '../../test/helpers/frame-sink.ts';
import { DATA_FRAME_BYTES, LocalAnswers, type Req } from './local-answer.ts';

let app: Server;
let port: number;
const received: { path: string; body: string }[] = [];

beforeAll(async () => {
  app = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      received.push({ path: req.url ?? '', body });
      if (req.url === '/big') res.end(Buffer.alloc(40 * 1024, 'z'));
      else if (req.url === '/small') res.end('small answer');
      else {
        res.write('first;');
        res.end('second;');
      }
    });
  });
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', () => r()));
  port = (app.address() as AddressInfo).port;
});

afterAll(() => app.close());

const req = (path: string, extra: Partial<Req> = {}): Req => ({
  requestId: `east:${path}`,
  mode: 'steal',
  method: 'GET',
  path,
  headers: {},
  ...extra,
});

describe('LocalAnswers', () => {
  it.each([
    ['/big', 40 * 1024, 3],
    ['/chunked', 'first;second;'.length, 1],
  ])('streams %s back as a head, data frames of at most 16 KB, then close', async (path, bytes, minData) => {
    // Prepare
    const out = sink();
    const answers = new LocalAnswers(out, port);

    // Act
    const status = await answers.answer(req(path));
    await until(() => out.sent.some((m) => m.type === 'close'));

    // Assess
    expect(status).toBe(200);
    expect(out.sent[0]).toMatchObject({
      type: 'response',
      requestId: `east:${path}`,
      status: 200,
      stream: true,
    });
    const data = out.sent.filter((m) => m.type === 'data');
    expect(data.length).toBeGreaterThanOrEqual(minData);
    const raw = data.map((m) => Buffer.from(String(m.data), 'base64'));
    for (const r of raw) expect(r.length).toBeLessThanOrEqual(DATA_FRAME_BYTES);
    expect(Buffer.concat(raw).length).toBe(bytes);
    expect(out.sent.at(-1)).toEqual({ type: 'close', requestId: `east:${path}` });
  });

  it('sends a small answer of known length whole, in one frame', async () => {
    const out = sink();
    await new LocalAnswers(out, port).answer(req('/small'));
    await until(() => out.sent.length === 1);
    expect(out.sent[0]).toMatchObject({ type: 'response', status: 200 });
    expect(Buffer.from(String(out.sent[0]!.body), 'base64').toString()).toBe('small answer');
  });

  it('writes a streamed request body to the app as its frames arrive', async () => {
    // Prepare
    const out = sink();
    const answers = new LocalAnswers(out, port);
    const r = req('/upload', { method: 'POST', stream: true, headers: { 'transfer-encoding': 'chunked' } });

    // Act
    const status = answers.answer(r);
    answers.onStream({ type: 'data', requestId: r.requestId, data: Buffer.from('a;').toString('base64') });
    answers.onStream({ type: 'data', requestId: r.requestId, data: Buffer.from('b;').toString('base64') });
    answers.onStream({ type: 'close', requestId: r.requestId });

    // Assess
    expect(await status).toBe(200);
    expect(received.find((x) => x.path === '/upload')?.body).toBe('a;b;');
  });

  it('falls back to the cluster when the app is not there', async () => {
    const out = sink();
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', () => r()));
    const deadPort = (closed.address() as AddressInfo).port;
    closed.close();
    expect(await new LocalAnswers(out, deadPort).answer(req('/x'))).toBeUndefined();
    expect(out.sent).toEqual([
      { type: 'response', requestId: 'east:/x', status: 502, headers: {}, fallback: true },
    ]);
  });
});
