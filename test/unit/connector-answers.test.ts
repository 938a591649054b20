import { afterEach, describe, expect, it } from 'vitest';
import { parseConnectorConfig } from '../../connector/config.ts';
import { parseMessage } from '../../shared/protocol/codec.ts';
import { type OfflineConnector, offlineConnector } from '../helpers/offline-connector.ts';

/** A connector answers every request, even when its answer cannot be encoded or a frame cannot be read. */
const HUGE = 'SWITCHYARD_TEST_HUGE_VALUE';
let peer: OfflineConnector | undefined;

afterEach(async () => {
  await peer?.connector.stop();
  peer = undefined;
  delete process.env[HUGE];
});

async function start(): Promise<OfflineConnector> {
  peer = await offlineConnector(
    parseConnectorConfig({
      services: [
        {
          name: 'api',
          ingress: { port: 0, host: '127.0.0.1' },
          upstream: 'http://127.0.0.1:9',
          env: { BIG: { fromEnv: HUGE } },
        },
      ],
    }),
  );
  return peer;
}

const answers = (p: OfflineConnector) => p.sent.map((f) => parseMessage(f, { maxBytes: 1 << 24 }));

describe('connector answers', () => {
  it('answers internal, with the incident its log shows, when its reply cannot be encoded', async () => {
    // Prepare: an env value over the 128 KiB an env.result may carry
    process.env[HUGE] = 'x'.repeat(200 * 1024);
    const p = await start();

    // Act
    await p.receive(
      JSON.stringify({ v: 1, type: 'env.get', sessionId: 's1', reqId: 'r1', seq: 1, service: 'api' }),
    );

    // Assess
    const [answer] = answers(p);
    expect(answer).toMatchObject({ type: 'error', code: 'internal', sessionId: 's1', reqId: 'r1', seq: 1 });
    const incident = /incident ([0-9a-f]+)/.exec((answer as { message: string }).message)![1];
    expect(p.logged).toContainEqual(expect.objectContaining({ level: 'ERROR', incident }));
    expect(JSON.stringify(p.logged)).not.toContain('x'.repeat(1000));
  });

  it('answers a frame it cannot read with the error and the ids it could read', async () => {
    const p = await start();
    await p.receive(
      JSON.stringify({ v: 1, type: 'file.stat', sessionId: 's1', reqId: 'r2', seq: 2, service: 'api' }),
    );
    expect(answers(p)).toEqual([
      expect.objectContaining({
        type: 'error',
        code: 'invalid_message',
        sessionId: 's1',
        reqId: 'r2',
        seq: 2,
      }),
    ]);
  });

  it('answers an unknown service by its code, not as internal', async () => {
    const p = await start();
    await p.receive(
      JSON.stringify({ v: 1, type: 'env.get', sessionId: 's1', reqId: 'r3', seq: 3, service: 'nope' }),
    );
    expect(answers(p)).toEqual([
      expect.objectContaining({ type: 'error', code: 'unknown_service', reqId: 'r3' }),
    ]);
  });
});
