import fc from 'fast-check';
import { EXAMPLES } from '../../shared/protocol/examples.ts';
import { MESSAGE_TYPES, type MessageType } from '../../shared/protocol/types.ts';

/**
 * Hostile WebSocket texts for the protocol fuzz tests: a valid message of every type, then
 * mutated (a field replaced, removed or added; sizes past the limits; nesting thousands deep),
 * or a text that is barely JSON at all.
 */

/** `[[[...]]]` or `{"a":{"a":...}}`, built without recursion. */
export function nested(depth: number, kind: 'array' | 'object' = 'array'): unknown {
  let value: unknown = 0;
  for (let i = 0; i < depth; i++) value = kind === 'array' ? [value] : { a: value };
  return value;
}

/** The same as text, for depths JSON.stringify could not reach. */
export function nestedText(depth: number, kind: 'array' | 'object' = 'array'): string {
  return kind === 'array'
    ? `${'['.repeat(depth)}0${']'.repeat(depth)}`
    : `${'{"a":'.repeat(depth)}0${'}'.repeat(depth)}`;
}

/** Values no field expects, or expects smaller, or less deep. */
export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    null,
    true,
    0,
    -1,
    1.5,
    2 ** 60,
    '',
    ':',
    '\u0000',
    'east:',
    ':east',
    'east:abc',
    'nosuchcluster:abc',
    '/etc/passwd',
    '../../etc/passwd',
    'ü'.repeat(3000),
    '𝒳'.repeat(2500),
    'a b',
    '<script>',
    [],
    {},
  ),
  fc.string({ maxLength: 12 }).map((s) => `${s}\u2028:`),
  fc.integer({ min: 65, max: 140_000 }).map((n) => 'x'.repeat(n)),
  fc.jsonValue({ maxDepth: 3 }),
  fc
    .record({ depth: fc.integer({ min: 2, max: 4000 }), kind: fc.constantFrom('array', 'object') })
    .map(({ depth, kind }) => nested(depth, kind as 'array' | 'object')),
  fc
    .integer({ min: 1, max: 600 })
    .map((n) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]))),
);

type Mutation =
  | { op: 'set'; field: string; value: unknown }
  | { op: 'delete'; field: string }
  | { op: 'extra'; value: unknown };

const COMMON_FIELDS = ['v', 'type', 'sessionId', 'reqId', 'seq', 'requestId', 'subId', 'connId', 'cluster'];

function mutationFor(type: MessageType): fc.Arbitrary<Mutation> {
  const fields = [...new Set([...Object.keys(EXAMPLES[type]), ...COMMON_FIELDS])];
  return fc.oneof(
    {
      weight: 5,
      arbitrary: fc.record({
        op: fc.constant('set' as const),
        field: fc.constantFrom(...fields),
        value: hostileValue,
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({ op: fc.constant('delete' as const), field: fc.constantFrom(...fields) }),
    },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('extra' as const), value: hostileValue }) },
  );
}

function apply(base: Record<string, unknown>, mutations: Mutation[]): Record<string, unknown> {
  const out = { ...base };
  for (const m of mutations) {
    if (m.op === 'set') out[m.field] = m.value;
    else if (m.op === 'delete') delete out[m.field];
    else out.extra = m.value;
  }
  return out;
}

/** "set seq to a 5000-char string; delete reqId" */
function describeMutations(mutations: Mutation[]): string {
  const what = (v: unknown) => {
    const text = textOf(v);
    return text.length > 40 ? `a ${text.length}-char ${Array.isArray(v) ? 'array' : typeof v}` : text;
  };
  return mutations
    .map((m) =>
      m.op === 'set'
        ? `set ${m.field} to ${what(m.value)}`
        : m.op === 'delete'
          ? `delete ${m.field}`
          : `add extra ${what(m.value)}`,
    )
    .join('; ');
}

/** JSON text of a value; a value too deep for JSON.stringify becomes deep text directly. */
function textOf(value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch {
    return nestedText(10_000);
  }
}

export interface HostileCase {
  /** What the case is, for a failure report. */
  label: string;
  text: string;
}

/** A case as fast-check reports a counterexample: its label and the start of its text, not 100 KB. */
function hostileCase(label: string, text: string): HostileCase {
  const shortLabel = label.length > 200 ? `${label.slice(0, 200)}…` : label;
  return {
    label: shortLabel,
    text,
    [fc.toStringMethod]: () =>
      `${shortLabel} (${text.length} chars: ${JSON.stringify(text.slice(0, 160))}${text.length > 160 ? '…' : ''})`,
  } as HostileCase;
}

/**
 * One text: a valid message of some type (shaped by `shape` for the side that sends it), with
 * 0 to 3 mutations; or a text that breaks the protocol before any field is read.
 */
export function hostileText(
  shape: (msg: Record<string, unknown>) => Record<string, unknown>,
): fc.Arbitrary<HostileCase> {
  const mutated = fc.constantFrom(...MESSAGE_TYPES).chain((type) =>
    fc.array(mutationFor(type), { minLength: 0, maxLength: 3 }).map((mutations) => {
      const msg = apply(shape({ ...(EXAMPLES[type] as Record<string, unknown>) }), mutations);
      return hostileCase(`${type} ${describeMutations(mutations)}`, textOf(msg));
    }),
  );
  const raw = fc.oneof(
    fc.string({ maxLength: 40 }).map((text) => hostileCase('a short string', text)),
    hostileValue.map((v) => hostileCase('a value that is not a message', textOf(v))),
    fc
      .record({ depth: fc.integer({ min: 30, max: 60_000 }), kind: fc.constantFrom('array', 'object') })
      .map(({ depth, kind }) =>
        hostileCase(`a ${depth}-deep ${kind}`, nestedText(depth, kind as 'array' | 'object')),
      ),
    fc
      .integer({ min: 1, max: 80 })
      .map((cut) => hostileCase('a cut message', textOf(EXAMPLES['file.read']).slice(0, cut))),
  );
  return fc.oneof({ weight: 6, arbitrary: mutated }, { weight: 1, arbitrary: raw });
}

/**
 * The malformed frames the adversarial sweep found crashing the router, and their kin. Each fits
 * one API Gateway frame (32 KB), so the end-to-end tests can send them through the gateway.
 */
export const KNOWN_HOSTILE_FRAMES: { label: string; text: string }[] = [
  { label: 'type of 5,000 chars', text: JSON.stringify({ v: 1, type: 't'.repeat(5000) }) },
  { label: 'v a long string', text: JSON.stringify({ v: 'v'.repeat(6000), type: 'ping' }) },
  {
    label: 'v a 4.5 KB object',
    text: JSON.stringify({
      v: Object.fromEntries(Array.from({ length: 450 }, (_, i) => [`key${i}`, i])),
      type: 'ping',
    }),
  },
  { label: 'type a 3,000-deep object', text: `{"v":1,"type":${nestedText(3000, 'object')}}` },
  { label: 'an extra field 12,000 deep', text: `{"v":1,"type":"ping","x":${nestedText(12_000)}}` },
  {
    label: 'a header name of 20,000 chars',
    text: JSON.stringify({ ...EXAMPLES.response, headers: { ['h'.repeat(20_000)]: 'x' } }),
  },
  {
    label: 'a request id of 5,000 chars',
    text: JSON.stringify({ ...EXAMPLES.response, requestId: 'r'.repeat(5000) }),
  },
];
