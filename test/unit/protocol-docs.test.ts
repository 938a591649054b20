import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseMessageObject } from '../../shared/protocol/codec.ts';
import { ANSWER_ERROR_CODES } from '../../shared/protocol/error-codes.ts';
import { PROTOCOL_ERROR_CODES } from '../../shared/protocol/protocol-error.ts';
import { CARRIED_TYPES, MESSAGE_TYPES } from '../../shared/protocol/types.ts';
import { ROUTING_ERROR_CODES } from '../../shared/routing/routing-error.ts';

const doc = readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8');

/** Every message in a ```json block: one pretty-printed object, or one object per line. */
const jsonExamples: unknown[] = [...doc.matchAll(/```json\n([\s\S]*?)```/g)]
  .flatMap((m) => {
    const block = m[1]!.trim();
    try {
      return [JSON.parse(block)];
    } catch {
      return block.split('\n').map((line) => JSON.parse(line));
    }
  })
  .filter((value) => typeof value === 'object' && value !== null && 'type' in value);

const routingTable = doc.slice(doc.indexOf('## Routing table'), doc.indexOf('## Namespacing'));

describe('docs/protocol.md', () => {
  it.each(MESSAGE_TYPES)('documents %s with a valid JSON example', (type) => {
    expect(doc).toContain(`**\`${type}\`**`);
    const examples = jsonExamples.map((value) => parseMessageObject(value)).filter((m) => m.type === type);
    expect(examples.length).toBeGreaterThan(0);
  });

  it.each(CARRIED_TYPES)('lists %s in the routing table', (type) => {
    expect(routingTable).toContain(`\`${type}\``);
  });

  it.each([...PROTOCOL_ERROR_CODES, ...ROUTING_ERROR_CODES, ...Object.keys(ANSWER_ERROR_CODES)])(
    'explains error code %s',
    (code) => {
      expect(doc).toMatch(new RegExp(`\\| \`${code}\` +\\|`));
    },
  );

  it('speaks only of the project (no machine paths)', () => {
    expect(doc).not.toMatch(/\/work\/|\/home\/|\/tmp\//);
  });
});
