import type * as z from 'zod';
import { DEFAULT_MAX_MESSAGE_BYTES } from './limits.ts';
import { MESSAGE_SCHEMAS, type Message } from './messages.ts';
import { ProtocolError } from './protocol-error.ts';
import { isMessageType, MESSAGE_TYPES } from './types.ts';
import { PROTOCOL_VERSION } from './version.ts';

export interface ParseOptions {
  /** Refuse texts larger than this many UTF-8 bytes (default: API Gateway's 128 KiB). */
  maxBytes?: number;
}

/**
 * Parse one WebSocket text into a typed message, or throw a `ProtocolError` whose message tells
 * the sender what to fix (which field, what a valid value looks like).
 */
export function parseMessage(text: string, options: ParseOptions = {}): Message {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  // Cheap bound first: a string of n chars is at least n bytes, so huge texts never get measured.
  if (text.length > maxBytes || Buffer.byteLength(text, 'utf8') > maxBytes) {
    throw new ProtocolError(
      'too_large',
      `message is ${Buffer.byteLength(text, 'utf8')} bytes, over the limit of ${maxBytes}: send it in chunks (encodeFrames)`,
      { maxBytes },
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ProtocolError('malformed_json', `message is not valid JSON: ${(err as Error).message}`);
  }
  return parseMessageObject(value);
}

/** Validate an already-decoded value (the `parseMessage` checks after JSON). */
export function parseMessageObject(value: unknown): Message {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ProtocolError(
      'invalid_message',
      `a message is a JSON object with "v" and "type", got ${describe(value)}`,
    );
  }
  const { v, type } = value as { v?: unknown; type?: unknown };
  if (v === undefined) {
    throw new ProtocolError(
      'invalid_message',
      `field "v" is missing: every message carries the protocol version, "v": ${PROTOCOL_VERSION}`,
    );
  }
  if (v !== PROTOCOL_VERSION) {
    throw new ProtocolError(
      'unsupported_version',
      `protocol version ${JSON.stringify(v)} is not supported: this side speaks version ${PROTOCOL_VERSION} ("v": ${PROTOCOL_VERSION})`,
      { supported: [PROTOCOL_VERSION], got: v },
    );
  }
  if (type === undefined) {
    throw new ProtocolError('invalid_message', 'field "type" is missing: it names the kind of message');
  }
  if (!isMessageType(type)) {
    throw new ProtocolError(
      'unknown_type',
      `unknown message type ${JSON.stringify(type)}: this side knows ${MESSAGE_TYPES.join(', ')}`,
      { type, known: [...MESSAGE_TYPES] },
    );
  }
  const parsed = MESSAGE_SCHEMAS[type].safeParse(value);
  if (!parsed.success) {
    throw new ProtocolError(
      'invalid_message',
      `invalid ${type} message: ${describeIssues(parsed.error.issues)}`,
      {
        type,
        fields: parsed.error.issues.map((i) => i.path.join('.')),
      },
    );
  }
  return parsed.data as Message;
}

export interface EncodeOptions {
  /**
   * Check the message against its schema first (default true), so a bug shows up at the sender
   * and not as an `invalid_message` at the far end. Skip only for a message just parsed.
   */
  validate?: boolean;
}

/** The JSON text of a message. */
export function encodeMessage(msg: Message, options: EncodeOptions = {}): string {
  if (options.validate !== false) parseMessageObject(msg);
  return JSON.stringify(msg);
}

const MAX_LISTED_ISSUES = 3;

/** "field "filter.path": invalid regex: ...; field "seq": is required" */
export function describeIssues(issues: readonly z.core.$ZodIssue[]): string {
  const listed = issues.slice(0, MAX_LISTED_ISSUES).map((issue) => {
    const path = issue.path.map(String).join('.');
    const what = humanize(issue);
    return path ? `field "${path}": ${what}` : what;
  });
  const more = issues.length - listed.length;
  return listed.join('; ') + (more > 0 ? ` (and ${more} more)` : '');
}

function humanize(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_type') {
    if (/received undefined/.test(issue.message)) return 'is required';
    if (issue.expected === 'int') return 'must be a whole number';
  }
  return issue.message;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}
