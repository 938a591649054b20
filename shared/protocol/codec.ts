import type * as z from 'zod';
import { clip, echo } from './echo.ts';
import { replyIdsOf } from './error-frame.ts';
import { ERROR_TEXT_MAX } from './fields.ts';
import { parseJsonText } from './json-text.ts';
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
 * the sender what to fix (which field, what a valid value looks like). The error's text fits an
 * `error` frame whatever the input, and its `details.replyTo` holds the ids of the message that
 * were valid (`reqId`, `seq`...), so an answer can name what it refuses.
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
  return parseMessageObject(parseJsonText(text));
}

/** Validate an already-decoded value (the `parseMessage` checks after JSON). */
export function parseMessageObject(value: unknown): Message {
  try {
    return checkMessage(value);
  } catch (err) {
    if (!(err instanceof ProtocolError)) throw err;
    const replyTo = replyIdsOf(value);
    if (Object.keys(replyTo).length === 0) throw err;
    throw new ProtocolError(err.code, err.message, { ...err.details, replyTo });
  }
}

function checkMessage(value: unknown): Message {
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
      `protocol version ${echo(v)} is not supported: this side speaks version ${PROTOCOL_VERSION} ("v": ${PROTOCOL_VERSION})`,
      { supported: [PROTOCOL_VERSION], got: echo(v) },
    );
  }
  if (type === undefined) {
    throw new ProtocolError('invalid_message', 'field "type" is missing: it names the kind of message');
  }
  if (!isMessageType(type)) {
    throw new ProtocolError(
      'unknown_type',
      `unknown message type ${echo(type)}: this side knows ${MESSAGE_TYPES.join(', ')}`,
      { type: echo(type), known: [...MESSAGE_TYPES] },
    );
  }
  const parsed = MESSAGE_SCHEMAS[type].safeParse(value);
  if (!parsed.success) {
    const { issues } = parsed.error;
    throw new ProtocolError(
      'invalid_message',
      clip(`invalid ${type} message: ${describeIssues(issues)}`, ERROR_TEXT_MAX),
      { type, fields: issues.slice(0, MAX_LISTED_FIELDS).map((i) => pathOf(i)) },
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
const MAX_LISTED_FIELDS = 20;
/** Issue texts and paths may repeat a peer's keys (a record key, an unrecognized key): bounded. */
const MAX_ISSUE_CHARS = 300;
const MAX_PATH_CHARS = 200;

/** "filter.path", with each segment (a key the peer chose, maybe) cut short. */
function pathOf(issue: z.core.$ZodIssue): string {
  return clip(issue.path.map((p) => clip(String(p), 64)).join('.'), MAX_PATH_CHARS);
}

/** "field "filter.path": invalid regex: ...; field "seq": is required" */
export function describeIssues(issues: readonly z.core.$ZodIssue[]): string {
  const listed = issues.slice(0, MAX_LISTED_ISSUES).map((issue) => {
    const path = pathOf(issue);
    const what = clip(humanize(issue), MAX_ISSUE_CHARS);
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
