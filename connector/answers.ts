import { SwitchyardError } from '../shared/errors/errors.ts';
import {
  type ErrorIds,
  errorFrame,
  internalErrorFrame,
  newIncidentId,
} from '../shared/protocol/error-frame.ts';
import { ErrorCodeSchema } from '../shared/protocol/fields.ts';
import { ProtocolError } from '../shared/protocol/protocol-error.ts';

type Frame = Record<string, unknown> & { type: string };

/**
 * How a connector answers the router so that every request gets an answer: a frame it cannot
 * read, a failure while handling one, and an answer that will not encode all become `error`
 * frames that are valid by construction. Unforeseen failures go out as `internal` with an
 * incident id and nothing else; the log line with the details carries the same id.
 */
export class Answers {
  constructor(
    /** Sends one message (throws when it does not encode). */
    private readonly send: (msg: Frame) => unknown,
    private readonly log: (line: Record<string, unknown>) => void,
  ) {}

  /** A frame from the router that this side cannot read, answered with the ids that could be read. */
  refuseFrame(err: unknown): void {
    if (!(err instanceof ProtocolError)) {
      this.failure(err, {});
      return;
    }
    // The reassembler gives up on a sender's incomplete chunked message (evicted to make room for
    // others, or too old): that is a budget at work, not a bad frame, and the log says so.
    const givenUp = err.code === 'too_many_partials' || err.code === 'chunk_expired';
    this.log({
      level: 'WARN',
      message: givenUp
        ? 'a chunked message was given up before it was whole'
        : 'invalid frame from the router',
      code: err.code,
      error: err.message,
    });
    const replyTo = (err.details?.replyTo ?? {}) as ErrorIds;
    this.answer(errorFrame(err.code, err.message, replyTo), replyTo);
  }

  /**
   * A failure as an error frame: a named one (`OperationError`, an error whose `code` has the
   * protocol's form) keeps its code and text; anything else (an errno such as `EMFILE`, a bug)
   * is `internal`. So is a `ProtocolError` here: frames are read before handling starts, so one
   * raised while handling is this side's encoder refusing what it built.
   */
  failure(err: unknown, ids: ErrorIds): void {
    const named = err as { code?: unknown; message?: unknown };
    const isNamed =
      err instanceof SwitchyardError ||
      (err instanceof Error && ErrorCodeSchema.safeParse(named.code).success);
    if (isNamed && !(err instanceof ProtocolError)) {
      this.answer(errorFrame(named.code, named.message, ids), ids);
      return;
    }
    const incident = newIncidentId();
    this.log({ level: 'ERROR', message: 'message handling failed', incident, error: String(err) });
    this.answer(internalErrorFrame(incident, ids), ids);
  }

  /**
   * Sends an answer; when it does not encode (a value over its schema's bound), the request
   * still gets one: `internal`, naming it by `ids`, so it never waits for its deadline.
   */
  answer(msg: Frame, ids: ErrorIds): void {
    try {
      this.send(msg);
    } catch (err) {
      const incident = newIncidentId();
      this.log({
        level: 'ERROR',
        message: 'could not encode an answer',
        incident,
        type: msg.type,
        error: String(err),
      });
      this.send(internalErrorFrame(incident, ids) as unknown as Frame);
    }
  }
}
