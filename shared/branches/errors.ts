import { SwitchyardError } from '../errors/errors.ts';

/** The id names a branch of another developer, or one of the same developer for another database. */
export class BranchIdTakenError extends SwitchyardError {
  constructor(id: string, reason: 'other_owner' | 'other_database', database?: string) {
    super(
      'branch_id_taken',
      reason === 'other_owner'
        ? `branch id '${id}' is already used by another developer: choose another id`
        : `branch '${id}' already exists for database '${database}': delete it first or choose another id`,
      409,
      { id },
    );
  }
}

/** A drop of this branch is under way; a branch of the same id can be created once it is done. */
export class BranchDeletingError extends SwitchyardError {
  constructor(id: string) {
    super('branch_deleting', `branch '${id}' is being deleted: retry once the deletion is done`, 409, { id });
  }
}
