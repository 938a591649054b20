import { SwitchyardError } from '../../shared/errors/errors.ts';

/**
 * Why a branch could not be made or dropped, in words a developer can act on. The `code` travels
 * to the router in the `branch.status` report and is shown next to the message.
 */
export class BranchEngineError extends SwitchyardError {}

/** The logical database is not declared, or its URL cannot be found or parsed. */
export class BranchConfigError extends BranchEngineError {
  constructor(message: string) {
    super('branch_config', message, 400);
  }
}

export class InvalidDatabaseUrlError extends BranchEngineError {
  constructor(message: string) {
    super('invalid_database_url', message, 400);
  }
}

/** The server did not let us in: refused, unknown host, timeout, bad credentials. */
export class SourceUnreachableError extends BranchEngineError {
  constructor(message: string) {
    super('source_unreachable', message, 502);
  }
}

export class SourceNotFoundError extends BranchEngineError {
  constructor(message: string) {
    super('source_not_found', message, 404);
  }
}

/** The server is reachable but our user may not do what branching needs (create a database...). */
export class BranchPermissionError extends BranchEngineError {
  constructor(message: string) {
    super('branch_permission', message, 403);
  }
}

/** Not a name the connector will create or drop (it must look like `sy_branch_<id>`). */
export class BranchNameError extends BranchEngineError {
  constructor(message: string) {
    super('invalid_branch_name', message, 400);
  }
}

/** A step of the copy failed; the message names the object and the step. */
export class BranchCopyError extends BranchEngineError {
  constructor(message: string) {
    super('branch_copy_failed', message, 500);
  }
}

/** A create was abandoned because the branch was deleted or re-created meanwhile. */
export class BranchAbortedError extends BranchEngineError {
  constructor(name: string) {
    super('branch_aborted', `creation of '${name}' was abandoned: the branch was deleted or re-created`, 409);
  }
}
