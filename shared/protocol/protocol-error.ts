import { SwitchyardError } from '../errors/errors.ts';

/**
 * Why a text or a message was refused. Codes are stable: senders and tests branch on them.
 *
 * - `malformed_json`      the text is not JSON
 * - `invalid_message`     JSON, but not a valid message (the text names the field)
 * - `unknown_type`        `type` names no message this side knows (maybe a newer peer)
 * - `unsupported_version` `v` is not the version this side speaks
 * - `too_large`           over a size limit (text, reassembled message, chunk count)
 * - `too_deep`            arrays and objects nest deeper than any message does (MAX_JSON_DEPTH)
 * - `chunk_mismatch`      chunks of one message disagree (total, head, data of a duplicate)
 * - `too_many_partials`   too many chunked messages are incomplete at once
 * - `chunk_expired`       a chunked message stayed incomplete too long and was dropped
 * - `reply_timeout`       a stateful reply never came; later replies were released without it
 * - `seq_out_of_window`   a reply's `seq` is implausibly far ahead of the one awaited
 */
export const PROTOCOL_ERROR_CODES = [
  'malformed_json',
  'invalid_message',
  'unknown_type',
  'unsupported_version',
  'too_large',
  'too_deep',
  'chunk_mismatch',
  'too_many_partials',
  'chunk_expired',
  'reply_timeout',
  'seq_out_of_window',
] as const;
export type ProtocolErrorCode = (typeof PROTOCOL_ERROR_CODES)[number];

export class ProtocolError extends SwitchyardError {
  declare readonly code: ProtocolErrorCode;

  constructor(code: ProtocolErrorCode, message: string, details?: Record<string, unknown>) {
    super(code, message, code === 'too_large' ? 413 : 400, details);
  }
}

export function isProtocolError(err: unknown): err is ProtocolError {
  return err instanceof ProtocolError;
}
