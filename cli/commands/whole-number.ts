import { InvalidArgumentError } from 'commander';

/** A flag's value as a whole number within bounds; anything else is refused, naming the flag. */
export const wholeNumber =
  (what: string, min: number, max: number) =>
  (value: string): number => {
    const n = value.trim() === '' ? Number.NaN : Number(value);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new InvalidArgumentError(`${what} must be a whole number from ${min} to ${max}`);
    return n;
  };
