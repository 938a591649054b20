import { ECHO_MAX_CHARS } from './limits.ts';

/**
 * A bad value as an error text names it: strings cut to a short prefix with their length,
 * other values by their kind. Every error that repeats what a peer sent goes through here, so
 * no value can make an error text outgrow its schema (and with it the frame that carries it),
 * and nothing here recurses into the value: a deeply nested one costs nothing.
 *
 *   echo('x'.repeat(5000))  -> "xxxx…" (5000 chars)
 *   echo({ a: 1 })          -> an object of 1 key
 */
export function echo(value: unknown, max = ECHO_MAX_CHARS): string {
  switch (typeof value) {
    case 'string':
      return value.length > max
        ? `${JSON.stringify(value.slice(0, max))}… (${value.length} chars)`
        : JSON.stringify(value);
    case 'number':
    case 'boolean':
    case 'bigint':
      return clip(String(value), max);
    case 'undefined':
      return 'undefined';
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) return `an array of ${value.length} item${value.length === 1 ? '' : 's'}`;
      const keys = Object.keys(value).length;
      return `an object of ${keys} key${keys === 1 ? '' : 's'}`;
    }
    default:
      return `a ${typeof value}`;
  }
}

/** A text of our own that may carry a peer's words (a schema issue, an OS error): at most `max` chars. */
export function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  const note = `… (${text.length} chars)`;
  return text.slice(0, Math.max(0, max - note.length)) + note;
}
