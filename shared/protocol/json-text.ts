import { clip } from './echo.ts';
import { MAX_JSON_DEPTH } from './limits.ts';
import { ProtocolError } from './protocol-error.ts';

const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * How deep arrays and objects nest in a JSON text, counted without parsing (one pass, no
 * recursion), and stopping as soon as it passes `limit`. Brackets inside strings do not count.
 */
export function jsonDepth(text: string, limit = Number.POSITIVE_INFINITY): number {
  let depth = 0;
  let deepest = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      // Skip the string in one native search (bodies are mostly long base64 strings): to the
      // next quote not escaped by an odd run of backslashes.
      let end = i;
      for (;;) {
        end = text.indexOf('"', end + 1);
        if (end < 0) return deepest; // unterminated: JSON.parse refuses it
        let slashes = 0;
        while (text.charCodeAt(end - 1 - slashes) === BACKSLASH) slashes++;
        if (slashes % 2 === 0) break;
      }
      i = end;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      depth++;
      if (depth > deepest) {
        deepest = depth;
        if (deepest > limit) return deepest;
      }
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) depth--;
  }
  return deepest;
}

/**
 * JSON.parse for texts from a peer: refuses nesting deeper than `maxDepth` before parsing, so
 * what comes out can be validated, stringified and forwarded without overflowing the stack.
 */
export function parseJsonText(text: string, maxDepth = MAX_JSON_DEPTH): unknown {
  if (jsonDepth(text, maxDepth) > maxDepth) {
    throw new ProtocolError(
      'too_deep',
      `message nests arrays and objects deeper than ${maxDepth} levels: no message of this protocol does`,
      { maxDepth },
    );
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ProtocolError(
      'malformed_json',
      `message is not valid JSON: ${clip(String((err as Error).message), 200)}`,
    );
  }
}
