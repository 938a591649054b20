import { ValidationError } from '../errors/errors.ts';
import type { Duty } from './duty.ts';

/**
 * The duties the reconciler runs, in registration order. A feature registers its duty from its
 * own module (`registerDuty({ name: 'expire-sessions', run })`) and adds that module to
 * `catalog.ts`, which the reconciler handler imports.
 */
const duties = new Map<string, Duty>();

const NAME = /^[a-z][a-z0-9-]{0,62}$/;

export function registerDuty(duty: Duty): void {
  if (!NAME.test(duty.name)) {
    throw new ValidationError(`duty name '${duty.name}' must be lowercase letters, digits and "-"`);
  }
  const existing = duties.get(duty.name);
  // The same module loaded twice (tests, hot reload) registers the same object again: fine.
  if (existing && existing !== duty) {
    throw new ValidationError(`a different duty named '${duty.name}' is already registered`);
  }
  duties.set(duty.name, duty);
}

export function registeredDuties(): readonly Duty[] {
  return [...duties.values()];
}

/** For tests: forget a duty. */
export function unregisterDuty(name: string): boolean {
  return duties.delete(name);
}
