/**
 * Every message type, by family. The names live apart from the schemas so that the chunk
 * head (which names the type of the message it carries) can list them without a cycle.
 */
export const STATEFUL_REQUEST_TYPES = [
  'env.get',
  'file.read',
  'file.stat',
  'file.list',
  'dns.resolve',
  'outgoing.connect',
] as const;
export const STATEFUL_REPLY_TYPES = [
  'env.result',
  'file.result',
  'dns.result',
  'outgoing.connected',
] as const;
export const OUTGOING_STREAM_TYPES = ['outgoing.data', 'outgoing.close'] as const;
export const TRAFFIC_TYPES = [
  'subscribe',
  'unsubscribe',
  'subscribed',
  'request',
  'response',
  'data',
  'close',
] as const;
export const CONTROL_TYPES = [
  'hello',
  'goodbye',
  'ping',
  'pong',
  'child.create',
  'child.ready',
  'child.failed',
  'child.close',
  'session.status',
  'branch.create',
  'branch.delete',
  'branch.status',
  'error',
] as const;
export const FRAMING_TYPES = ['chunk'] as const;

/** Types a chunk may carry (anything but a chunk). */
export const CARRIED_TYPES = [
  ...STATEFUL_REQUEST_TYPES,
  ...STATEFUL_REPLY_TYPES,
  ...OUTGOING_STREAM_TYPES,
  ...TRAFFIC_TYPES,
  ...CONTROL_TYPES,
] as const;
export const MESSAGE_TYPES = [...CARRIED_TYPES, ...FRAMING_TYPES] as const;

export type MessageType = (typeof MESSAGE_TYPES)[number];
export type CarriedType = (typeof CARRIED_TYPES)[number];

const known: ReadonlySet<string> = new Set(MESSAGE_TYPES);
export const isMessageType = (value: unknown): value is MessageType =>
  typeof value === 'string' && known.has(value);
