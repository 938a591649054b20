/**
 * Finds a repeated group that itself contains an unbounded repeat: `(a+)+`, `(\w*,)*`, `(?:x+y){2,}`.
 *
 * That shape is the root of nearly every catastrophic-backtracking (ReDoS) pattern. Switchyard
 * matches with RE2, which is linear whatever the pattern, so for the splitter itself it is harmless;
 * it is still rejected because a split filter is written by a developer and read by people and
 * tools that do backtrack (a consumer re-checking the filter with JavaScript's RegExp, tests), and
 * because matching one attribute value never needs it: `(a+)+` means `a+`, `(\d+,)*` means `[\d,]*`.
 *
 * The scanner only needs to understand patterns that RE2 already compiled, so it handles valid
 * RE2 syntax: escapes (incl. `\Q...\E`, `\p{..}`, `\x{..}`), classes (incl. `[]a]`, `[[:alpha:]]`),
 * groups (`(`, `(?:`, `(?P<n>`, `(?<n>`, `(?i:`) and flag-only groups (`(?i)`), and the
 * repeat operators `* + ? {n} {n,} {n,m}` with an optional lazy `?`.
 *
 * Returns the offending fragment's start offset and the repeat operator, or undefined.
 */
export interface NestedRepeat {
  /** Offset of the group's opening parenthesis. */
  at: number;
  /** The outer repeat operator, e.g. `+` or `{2,}`. */
  operator: string;
}

interface Frame {
  start: number;
  unbounded: boolean;
}

interface Atom {
  start: number;
  /** The atom contains an unbounded repeat (only groups can). */
  unbounded: boolean;
}

const REPEAT = /^\{(\d+)(,(\d*))?\}/;

/** Reads a repeat operator at `i`; `unbounded` when it has no upper limit. */
function readRepeat(p: string, i: number): { text: string; unbounded: boolean } | undefined {
  const c = p[i];
  if (c === '*' || c === '+') return { text: c, unbounded: true };
  if (c === '?') return { text: c, unbounded: false };
  if (c === '{') {
    const m = REPEAT.exec(p.slice(i));
    if (!m) return undefined; // RE2 reads a `{` that does not start a valid repeat as a literal.
    return { text: m[0], unbounded: m[2] !== undefined && m[3] === '' };
  }
  return undefined;
}

/** Index just after the escape sequence that starts at `i` (p[i] === '\\'). */
function skipEscape(p: string, i: number): number {
  const c = p[i + 1];
  if (c === 'Q') {
    const end = p.indexOf('\\E', i + 2);
    return end < 0 ? p.length : end + 2;
  }
  if ((c === 'p' || c === 'P' || c === 'x') && p[i + 2] === '{') {
    const end = p.indexOf('}', i + 3);
    return end < 0 ? p.length : end + 1;
  }
  if (c === 'p' || c === 'P') return i + 3;
  if (c === 'x') return i + 4;
  return i + 2;
}

/** Index just after the character class that starts at `i` (p[i] === '['). */
function skipClass(p: string, i: number): number {
  let j = i + 1;
  if (p[j] === '^') j++;
  if (p[j] === ']') j++; // a leading `]` is a literal member
  while (j < p.length && p[j] !== ']') {
    if (p[j] === '\\') j = skipEscape(p, j);
    else if (p[j] === '[' && p[j + 1] === ':') {
      const end = p.indexOf(':]', j + 2);
      j = end < 0 ? j + 1 : end + 2;
    } else j++;
  }
  return j + 1;
}

export function findNestedRepeat(p: string): NestedRepeat | undefined {
  const frames: Frame[] = [{ start: -1, unbounded: false }];
  let atom: Atom | undefined;
  let i = 0;
  while (i < p.length) {
    const c = p[i]!;
    const frame = frames[frames.length - 1]!;
    const repeat = readRepeat(p, i);
    if (repeat && atom) {
      if (repeat.unbounded && atom.unbounded) return { at: atom.start, operator: repeat.text };
      if (repeat.unbounded) frame.unbounded = true;
      i += repeat.text.length;
      if (p[i] === '?') i++; // lazy form
      atom = undefined;
      continue;
    }
    if (c === '\\') {
      atom = { start: i, unbounded: false };
      i = skipEscape(p, i);
    } else if (c === '[') {
      atom = { start: i, unbounded: false };
      i = skipClass(p, i);
    } else if (c === '(') {
      const flagsOnly = /^\(\?[a-zA-Z-]*\)/.exec(p.slice(i));
      if (flagsOnly) {
        i += flagsOnly[0].length;
        atom = undefined;
        continue;
      }
      frames.push({ start: i, unbounded: false });
      atom = undefined;
      i++;
    } else if (c === ')') {
      const closed = frames.length > 1 ? frames.pop()! : frame;
      const parent = frames[frames.length - 1]!;
      if (closed.unbounded) parent.unbounded = true;
      atom = { start: closed.start, unbounded: closed.unbounded };
      i++;
    } else if (c === '|') {
      atom = undefined;
      i++;
    } else {
      atom = { start: i, unbounded: false };
      i++;
    }
  }
  return undefined;
}
