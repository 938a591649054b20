import { parseMessageObject } from './codec.ts';
import { echo } from './echo.ts';
import { HEAD_KEYS, type RoutingHead, RoutingHeadSchema } from './messages/head.ts';
import type { CarriedMessage, Message } from './messages.ts';
import { ProtocolError } from './protocol-error.ts';
import { isMessageType } from './types.ts';

/**
 * The routing head of a whole message: its type and the routing fields it has. Messages are
 * loose objects, so a type that does not declare a routing field (a `ping` with a `requestId`)
 * may carry anything under its name: such a field is left out of the head unless it is what
 * the head allows, so nothing unchecked is routed on or echoed back.
 */
export function headOf(msg: CarriedMessage): RoutingHead {
  const head: Record<string, unknown> = { type: msg.type };
  const fields = msg as unknown as Record<string, unknown>;
  for (const key of HEAD_KEYS) {
    const value = fields[key];
    if (value !== undefined && RoutingHeadSchema.shape[key].safeParse(value).success) head[key] = value;
  }
  return head as RoutingHead;
}

/** The head a message is routed on: its own, or the one a chunk carries. */
export function routingHeadOf(msg: Message): RoutingHead {
  return msg.type === 'chunk' ? msg.head : headOf(msg);
}

/**
 * Put the head's routing fields over a reassembled message (decoded JSON, not yet validated)
 * and validate the result once. The head is what the router saw and rewrote, so it is
 * authoritative: a routing field the head lacks is removed from the message.
 */
export function overlayHead(value: unknown, head: RoutingHead): CarriedMessage {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return parseMessageObject(value) as CarriedMessage; // throws the usual invalid_message
  }
  const type = (value as { type?: unknown }).type;
  if (type === 'chunk') {
    throw new ProtocolError('invalid_message', 'the chunks rebuild a chunk; chunks do not nest');
  }
  if (type !== head.type) {
    throw new ProtocolError(
      'chunk_mismatch',
      `the chunks rebuild a ${isMessageType(type) ? type : echo(type)} message but their head says ${head.type}`,
    );
  }
  const out: Record<string, unknown> = { ...value };
  const fields = head as Record<string, unknown>;
  for (const key of HEAD_KEYS) {
    if (fields[key] === undefined) delete out[key];
    else out[key] = fields[key];
  }
  return parseMessageObject(out) as CarriedMessage;
}
