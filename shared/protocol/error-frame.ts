import { randomBytes } from 'node:crypto';
import type * as z from 'zod';
import { clip } from './echo.ts';
import {
  ClientIdSchema,
  ERROR_TEXT_MAX,
  ErrorCodeSchema,
  NamespacedIdSchema,
  SeqSchema,
  SessionIdSchema,
} from './fields.ts';
import { type ErrorMessage, message } from './messages.ts';

/** The fields an `error` names what it answers by, each with the schema the `error` holds it to. */
const ID_FIELDS = {
  sessionId: SessionIdSchema,
  reqId: ClientIdSchema,
  seq: SeqSchema,
  subId: NamespacedIdSchema,
  requestId: NamespacedIdSchema,
  connId: ClientIdSchema,
} as const satisfies Record<string, z.ZodType>;

export type ErrorIdField = keyof typeof ID_FIELDS;
export type ErrorIds = { [K in ErrorIdField]?: z.infer<(typeof ID_FIELDS)[K]> };

/**
 * The ids of a message (valid or not) an error can answer it by: only those its schema would
 * accept, so an invalid message still gets an answer its sender can match to what it asked.
 */
export function replyIdsOf(value: unknown): ErrorIds {
  const out: Record<string, unknown> = {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return out;
  const fields = value as Record<string, unknown>;
  for (const [key, schema] of Object.entries(ID_FIELDS)) {
    if (fields[key] !== undefined && schema.safeParse(fields[key]).success) out[key] = fields[key];
  }
  return out as ErrorIds;
}

/**
 * An `error` that is valid by construction, whatever it is given: a code that is not one
 * becomes `internal`, the text is cut to fit, an id its schema refuses is left out. Whoever
 * answers a peer with an error builds it here, so an answer can never fail its own encoder.
 */
export function errorFrame(code: unknown, text: unknown, ids: Record<string, unknown> = {}): ErrorMessage {
  const fields: Record<string, unknown> = {
    code: ErrorCodeSchema.safeParse(code).success ? code : 'internal',
    message: clip(
      typeof text === 'string' && text.length > 0 ? text : 'no explanation given',
      ERROR_TEXT_MAX,
    ),
    ...replyIdsOf(ids),
  };
  return message('error', fields as Parameters<typeof message<'error'>>[1]);
}

/** A short random id that an `internal` error and the log line about it both carry. */
export function newIncidentId(): string {
  return randomBytes(6).toString('hex');
}

/** What a peer answers when something it did not foresee failed: no details, an id to find them by. */
export function internalErrorFrame(incident: string, ids: Record<string, unknown> = {}): ErrorMessage {
  return errorFrame(
    'internal',
    `internal error (incident ${incident}); the details are in the log under that incident id`,
    ids,
  );
}
