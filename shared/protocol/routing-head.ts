import { describeIssues } from './codec.ts';
import { HEAD_KEYS, type RoutingHead } from './messages/head.ts';
import { type CarriedMessage, MESSAGE_SCHEMAS, type Message } from './messages.ts';
import { ProtocolError } from './protocol-error.ts';

/** The routing head of a whole message: its type and the routing fields it has. */
export function headOf(msg: CarriedMessage): RoutingHead {
  const head: Record<string, unknown> = { type: msg.type };
  const fields = msg as unknown as Record<string, unknown>;
  for (const key of HEAD_KEYS) {
    if (fields[key] !== undefined) head[key] = fields[key];
  }
  return head as RoutingHead;
}

/** The head a message is routed on: its own, or the one a chunk carries. */
export function routingHeadOf(msg: Message): RoutingHead {
  return msg.type === 'chunk' ? msg.head : headOf(msg);
}

/**
 * Put the head's routing fields over a reassembled message. The head is what the router saw
 * and rewrote, so it is authoritative: a field the head lacks is removed from the message.
 * The result is validated again, as the rewrite may be what makes it valid (or not).
 */
export function overlayHead(msg: CarriedMessage, head: RoutingHead): CarriedMessage {
  if (msg.type !== head.type) {
    throw new ProtocolError(
      'chunk_mismatch',
      `the chunks rebuild a ${msg.type} message but their head says ${head.type}`,
    );
  }
  const out: Record<string, unknown> = { ...msg };
  const fields = head as Record<string, unknown>;
  for (const key of HEAD_KEYS) {
    if (fields[key] === undefined) delete out[key];
    else out[key] = fields[key];
  }
  const parsed = MESSAGE_SCHEMAS[msg.type].safeParse(out);
  if (!parsed.success) {
    throw new ProtocolError(
      'invalid_message',
      `invalid ${msg.type} message after reassembly: ${describeIssues(parsed.error.issues)}`,
    );
  }
  return parsed.data as CarriedMessage;
}
