import { RE2JS } from 're2js';
import * as z from 'zod';
import { HeaderNameSchema, HttpMethodSchema } from './fields.ts';

/**
 * The HTTP filter of a subscription. Patterns come from users and run inside the connector
 * on every request, so they are compiled with RE2 (re2js): matching is linear in the input
 * whatever the pattern, and backreferences or lookarounds are refused at subscribe time rather
 * than discovered as a stalled connector.
 */

export const MAX_PATTERN_LENGTH = 1024;
/** RE2's rough cost measure; a bound keeps one subscription from making every match slow. */
export const MAX_PATTERN_PROGRAM_SIZE = 5000;
export const MAX_HEADER_FILTERS = 32;

export type PatternCheck = { ok: true; regex: RE2JS } | { ok: false; reason: string };

/** Compile a user pattern under the limits above; the reason is fit to show to the user. */
export function checkPattern(pattern: string): PatternCheck {
  if (pattern.length === 0) return { ok: false, reason: 'an empty pattern; omit the filter instead' };
  if (pattern.length > MAX_PATTERN_LENGTH) {
    return { ok: false, reason: `a pattern longer than ${MAX_PATTERN_LENGTH} characters` };
  }
  let regex: RE2JS;
  try {
    regex = RE2JS.compile(pattern);
  } catch (err) {
    return {
      ok: false,
      reason: `not a valid RE2 pattern (${(err as Error).message}); backreferences and lookarounds are not supported`,
    };
  }
  if (regex.programSize() > MAX_PATTERN_PROGRAM_SIZE) {
    return {
      ok: false,
      reason: `a pattern too costly to match on every request (RE2 program size ${regex.programSize()} > ${MAX_PATTERN_PROGRAM_SIZE}); simplify it`,
    };
  }
  return { ok: true, regex };
}

export const PatternSchema = z.string().superRefine((pattern, ctx) => {
  const check = checkPattern(pattern);
  if (!check.ok) ctx.addIssue({ code: 'custom', message: `invalid regex: ${check.reason}` });
});

/**
 * Every filter given must match; an empty filter matches every request (steal or mirror all).
 * Header names compare case-insensitively; patterns search the value (anchor with ^ and $).
 */
export const HttpFilterSchema = z
  .looseObject({
    headers: z
      .record(HeaderNameSchema, PatternSchema)
      .refine((h) => Object.keys(h).length <= MAX_HEADER_FILTERS, {
        message: `at most ${MAX_HEADER_FILTERS} header filters`,
      })
      .optional(),
    path: PatternSchema.optional(),
    method: HttpMethodSchema.optional(),
  })
  .refine(
    (f) => {
      const names = Object.keys(f.headers ?? {}).map((n) => n.toLowerCase());
      return new Set(names).size === names.length;
    },
    { message: 'a header is filtered twice (header names are case-insensitive)', path: ['headers'] },
  );
export type HttpFilter = z.infer<typeof HttpFilterSchema>;

/** What a filter is matched against: header names in any case, values joined per RFC 9110. */
export interface FilterableRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  /**
   * Every header name is lower case already (Node's `IncomingMessage.headers`, HTTP/2): values
   * are then read as they are, without building a lower-cased copy per request.
   */
  namesLowerCase?: boolean;
}

export type RequestMatcher = (request: FilterableRequest) => boolean;

/** Compile a validated filter once; the matcher is then called per request. */
export function compileFilter(filter: HttpFilter): RequestMatcher {
  const method = filter.method?.toUpperCase();
  const path = filter.path === undefined ? undefined : compilePattern(filter.path);
  const headers = Object.entries(filter.headers ?? {}).map(
    ([name, pattern]) => [name.toLowerCase(), compilePattern(pattern)] as const,
  );
  return (request) => {
    if (method !== undefined && request.method.toUpperCase() !== method) return false;
    if (path !== undefined && !path(request.path)) return false;
    if (headers.length === 0) return true;
    if (request.namesLowerCase) {
      const h = request.headers;
      return headers.every(([name, test]) => {
        const value = h[name];
        if (value === undefined) return false;
        return test(typeof value === 'string' ? value : value.join(', '));
      });
    }
    const values = lowerCaseHeaders(request.headers);
    return headers.every(([name, test]) => {
      const value = values.get(name);
      return value !== undefined && test(value);
    });
  };
}

/**
 * A pattern as a test: its anchored literal prefix first (a string comparison), then RE2. With
 * many sessions on one service most filters fail on their first characters (`^/team-a/`,
 * `^alice$`), and a failed prefix costs nothing like a regex run.
 */
function compilePattern(pattern: string): (value: string) => boolean {
  const regex = mustCompile(pattern);
  const prefix = anchoredLiteralPrefix(pattern);
  if (prefix === '') return (value) => regex.test(value);
  return (value) => value.startsWith(prefix) && regex.test(value);
}

const META = '\\.^$|?*+()[]{}';
/** Characters that stand for themselves after a backslash. */
const ESCAPED_LITERAL = /[\\.^$|?*+()[\]{}/-]/;

/**
 * The text every match of `pattern` starts with: what follows a leading `^` up to the first
 * operator, for a pattern without alternation (`^/api/v1/` gives `/api/v1/`; `^/a|/b`, `(?i)^x`
 * and `api` give ''). A character made optional by `?`, `*` or `{` is left out. Never longer than
 * what a match must start with, so a value without it cannot match.
 */
export function anchoredLiteralPrefix(pattern: string): string {
  if (pattern[0] !== '^' || pattern.includes('|')) return '';
  // By code point: a quantifier after an astral character applies to all of it.
  const chars = Array.from(pattern);
  const out: string[] = [];
  for (let i = 1; i < chars.length; i++) {
    const c = chars[i]!;
    if (c === '\\') {
      const next = chars[i + 1];
      if (next === undefined || !ESCAPED_LITERAL.test(next)) break;
      out.push(next);
      i++;
      continue;
    }
    if (META.includes(c)) {
      if (c === '?' || c === '*' || c === '{') out.pop();
      break;
    }
    out.push(c);
  }
  return out.join('');
}

function mustCompile(pattern: string): RE2JS {
  const check = checkPattern(pattern);
  if (!check.ok) throw new TypeError(`filter pattern ${JSON.stringify(pattern)}: ${check.reason}`);
  return check.regex;
}

/**
 * Every subscription of a service is matched against the same request: its headers are
 * lower-cased once, not once per subscription (with 100 header filters that was most of the
 * connector's time per request). A request's headers do not change while it is being routed.
 */
const lowered = new WeakMap<FilterableRequest['headers'], Map<string, string>>();

function lowerCaseHeaders(headers: FilterableRequest['headers']): Map<string, string> {
  const known = lowered.get(headers);
  if (known) return known;
  const out = new Map<string, string>();
  lowered.set(headers, out);
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    const key = name.toLowerCase();
    const joined = Array.isArray(value) ? value.join(', ') : value;
    const prior = out.get(key);
    out.set(key, prior === undefined ? joined : `${prior}, ${joined}`);
  }
  return out;
}
