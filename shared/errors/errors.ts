/**
 * Named errors with a stable `code`. Transports map them once: `httpStatus` for the HTTP API,
 * an `error` frame for the WebSocket. Callers branch on `code` (or `instanceof`), never on text.
 */
export class SwitchyardError extends Error {
  readonly code: string;
  readonly httpStatus: number;
  readonly details?: Record<string, unknown>;

  constructor(code: string, message: string, httpStatus = 500, details?: Record<string, unknown>) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.httpStatus = httpStatus;
    if (details) this.details = details;
  }
}

/** Input that failed validation at the edge (request body, message, config file). */
export class ValidationError extends SwitchyardError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('invalid_request', message, 400, details);
  }
}

export class UnauthorizedError extends SwitchyardError {
  constructor(message = 'missing or invalid bearer token: pass "Authorization: Bearer <token>"') {
    super('unauthorized', message, 401);
  }
}

/** Authenticated, but the resource belongs to someone else. */
export class ForbiddenError extends SwitchyardError {
  constructor(message: string) {
    super('forbidden', message, 403);
  }
}

export class NotFoundError extends SwitchyardError {
  constructor(what: string, id: string) {
    super('not_found', `${what} '${id}' was not found`, 404, { what, id });
  }
}

/** The thing existed but is over for good (a session that cannot be resumed). */
export class GoneError extends SwitchyardError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('gone', message, 410, details);
  }
}

/**
 * A conditional write lost its race (version moved on, item already exists, lease taken).
 * This is an expected event: re-read and retry, or give up, but never overwrite.
 */
export class ConditionFailedError extends SwitchyardError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('conflict', message, 409, details);
  }
}

/** A cluster the operation needs is not connected to the router. */
export class ClusterUnavailableError extends SwitchyardError {
  constructor(clusterId: string, message?: string) {
    super(
      'cluster_unavailable',
      message ?? `cluster '${clusterId}' is not connected: start its connector, then retry`,
      503,
      { cluster: clusterId },
    );
  }
}

export function isSwitchyardError(err: unknown): err is SwitchyardError {
  return err instanceof SwitchyardError;
}

/** The JSON body every HTTP error uses: `{"error":{"code","message"}}`. */
export function errorBody(err: SwitchyardError): {
  error: { code: string; message: string; details?: unknown };
} {
  return {
    error: { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) },
  };
}
