import { RE2JS, RE2JSException } from 're2js';
import { InvalidSplitFilterError } from './errors.ts';
import { findNestedRepeat } from './nested-repeat.ts';

/** Longest accepted pattern, in characters. Attribute filters are short; a cap bounds compile work. */
export const MAX_PATTERN_LENGTH = 256;
/**
 * Largest accepted compiled program, in RE2 instructions. RE2 matching is linear in the input but
 * also proportional to the program, and bounded repeats multiply it (`\w{100}` is 100
 * instructions): the cap keeps one message's match cost small. `[a-z]{1000}` (1,002) still fits.
 */
export const MAX_PROGRAM_SIZE = 2_000;

/** A compiled attribute pattern: unanchored search, like `RegExp.prototype.test`. */
export interface CompiledPattern {
  readonly source: string;
  test(value: string): boolean;
}

/**
 * Compiles one filter pattern with RE2 (linear-time: no backtracking, so no ReDoS at match time)
 * and rejects what RE2 cannot run safely or that reads as catastrophic. `attribute` only serves
 * the error message.
 */
export function compilePattern(attribute: string, pattern: string): CompiledPattern {
  const reject = (why: string, extra?: Record<string, unknown>): never => {
    throw new InvalidSplitFilterError(`filter on attribute '${attribute}': ${why}`, {
      attribute,
      pattern,
      ...extra,
    });
  };
  if (pattern.length === 0) reject('the pattern is empty: give a regular expression such as "^vip-"');
  if (pattern.length > MAX_PATTERN_LENGTH) {
    reject(`the pattern is ${pattern.length} characters long, above the limit of ${MAX_PATTERN_LENGTH}`);
  }
  let re: RE2JS;
  try {
    re = RE2JS.compile(pattern);
  } catch (err) {
    if (!(err instanceof RE2JSException)) throw err;
    // Backreferences and lookarounds land here too: RE2 has no backtracking to run them.
    return reject(
      `${err.message}. Patterns use RE2 syntax (https://github.com/google/re2/wiki/Syntax): no backreferences or lookarounds`,
    );
  }
  const nested = findNestedRepeat(pattern);
  if (nested) {
    reject(
      `a repeated group contains an unbounded repeat (at offset ${nested.at}, outer '${nested.operator}'), the shape of catastrophic backtracking such as '(a+)+'; write it without the nesting, e.g. 'a+' or '[\\d,]*'`,
      { offset: nested.at },
    );
  }
  const size = re.programSize();
  if (size > MAX_PROGRAM_SIZE) {
    reject(
      `the pattern compiles to ${size} instructions, above the limit of ${MAX_PROGRAM_SIZE}: use smaller repeat counts`,
    );
  }
  return { source: pattern, test: (value) => re.test(value) };
}
