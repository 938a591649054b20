import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  anchoredLiteralPrefix,
  checkPattern,
  compileFilter,
  type FilterableRequest,
  HttpFilterSchema,
  MAX_HEADER_FILTERS,
  MAX_PATTERN_LENGTH,
} from '../../shared/protocol/filter.ts';

const request = (over: Partial<FilterableRequest> = {}): FilterableRequest => ({
  method: 'POST',
  path: '/api/orders?dry=1',
  headers: { 'X-User': 'alice', 'content-type': 'application/json' },
  ...over,
});

describe('checkPattern', () => {
  it.each([
    ['^/api/', true],
    ['(a+)+$', true], // catastrophic for a backtracking engine, linear for RE2
    ['(?i)alice', true],
    ['(?P<user>\\w+)', true],
    ['', false],
    ['(a)\\1', false],
    ['(?=x)', false],
    ['(?<!x)y', false],
    ['[', false],
    ['a{1001}', false],
  ])('%j is accepted: %s', (pattern, ok) => {
    expect(checkPattern(pattern).ok).toBe(ok);
  });

  it('refuses a pattern over the length limit', () => {
    const check = checkPattern('a'.repeat(MAX_PATTERN_LENGTH + 1));
    expect(check).toEqual({ ok: false, reason: expect.stringMatching(/longer than 1024/) });
  });

  it('refuses a short pattern whose compiled program is too costly', () => {
    const check = checkPattern('a{1000}b{1000}c{1000}d{1000}e{1000}f{100}');
    expect(check).toEqual({ ok: false, reason: expect.stringMatching(/program size \d+ > 5000/) });
  });

  it('matches a pattern that would backtrack catastrophically in RegExp, and still answers', () => {
    const check = checkPattern('^(a+)+$');
    if (!check.ok) throw new Error(check.reason);
    expect(check.regex.test(`${'a'.repeat(5000)}!`)).toBe(false);
    expect(check.regex.test('a'.repeat(5000))).toBe(true);
  });
});

describe('HttpFilterSchema', () => {
  it('accepts an empty filter (it matches every request)', () => {
    expect(HttpFilterSchema.safeParse({}).success).toBe(true);
  });

  it(`refuses more than ${MAX_HEADER_FILTERS} header filters`, () => {
    const headers = Object.fromEntries(
      Array.from({ length: MAX_HEADER_FILTERS + 1 }, (_, i) => [`x-h${i}`, 'a']),
    );
    const parsed = HttpFilterSchema.safeParse({ headers });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.message).toMatch(/at most 32 header filters/);
  });

  it('refuses a method that is not letters', () => {
    expect(HttpFilterSchema.safeParse({ method: 'GET /' }).success).toBe(false);
  });
});

describe('compileFilter', () => {
  const cases: { name: string; filter: object; req: FilterableRequest; matches: boolean }[] = [
    { name: 'empty filter', filter: {}, req: request(), matches: true },
    { name: 'method, any case', filter: { method: 'post' }, req: request(), matches: true },
    { name: 'other method', filter: { method: 'GET' }, req: request(), matches: false },
    { name: 'path prefix', filter: { path: '^/api/' }, req: request(), matches: true },
    { name: 'path searched, not anchored', filter: { path: 'orders' }, req: request(), matches: true },
    { name: 'path anchored mismatch', filter: { path: '^/orders' }, req: request(), matches: false },
    {
      name: 'header name any case',
      filter: { headers: { 'x-user': '^alice$' } },
      req: request(),
      matches: true,
    },
    {
      name: 'header value mismatch',
      filter: { headers: { 'x-user': '^bob$' } },
      req: request(),
      matches: false,
    },
    { name: 'header absent', filter: { headers: { 'x-tenant': '.*' } }, req: request(), matches: false },
    {
      name: 'every given filter must match (one fails)',
      filter: { method: 'POST', path: '^/api', headers: { 'x-user': 'bob' } },
      req: request(),
      matches: false,
    },
    {
      name: 'every given filter must match (all pass)',
      filter: { method: 'POST', path: '^/api', headers: { 'x-user': 'ali', 'content-type': 'json$' } },
      req: request(),
      matches: true,
    },
    {
      name: 'multi-valued header joined with ", "',
      filter: { headers: { accept: '^text/html, application/json$' } },
      req: request({ headers: { Accept: ['text/html', 'application/json'] } }),
      matches: true,
    },
    {
      name: 'same header in two cases joined',
      filter: { headers: { 'x-a': '^1, 2$' } },
      req: request({ headers: { 'X-A': '1', 'x-a': '2' } }),
      matches: true,
    },
    {
      name: 'undefined header value is absent',
      filter: { headers: { 'x-a': '.*' } },
      req: request({ headers: { 'x-a': undefined } }),
      matches: false,
    },
  ];

  it.each(cases)('$name -> $matches', ({ filter, req, matches }) => {
    const parsed = HttpFilterSchema.parse(filter);
    expect(compileFilter(parsed)(req)).toBe(matches);
  });

  it('throws on a pattern that did not pass validation, naming it', () => {
    expect(() => compileFilter({ path: '(a)\\1' })).toThrow(/filter pattern "\(a\)\\\\1"/);
  });
});

describe('anchoredLiteralPrefix', () => {
  it.each([
    ['^/api/v1/', '/api/v1/'],
    ['^alice$', 'alice'],
    ['^/orders/\\d+$', '/orders/'],
    ['^/a\\.b', '/a.b'],
    ['^/ab?', '/a'],
    ['^/ab*', '/a'],
    ['^/ab{0,2}', '/a'],
    ['^/ab+', '/ab'],
    ['^/a|/b', ''],
    ['(?i)^alice', ''],
    ['alice', ''],
    ['^(a)', ''],
    ['^😀?x', ''],
  ])('%j starts every match with %j', (pattern, prefix) => {
    expect(anchoredLiteralPrefix(pattern)).toBe(prefix);
  });

  it('never rejects a value the pattern matches (property)', () => {
    const alphabet = ['a', 'b', '/', '.', '😀'];
    const patternPart = fc.constantFrom(
      ...alphabet,
      '\\.',
      '?',
      '*',
      '+',
      '{0,2}',
      '(',
      ')',
      '|',
      '[ab]',
      '$',
      '.*',
    );
    fc.assert(
      fc.property(
        fc.array(patternPart, { maxLength: 8 }),
        fc.array(fc.constantFrom(...alphabet), { maxLength: 8 }),
        (parts, valueChars) => {
          const pattern = `^${parts.join('')}`;
          const check = checkPattern(pattern);
          fc.pre(check.ok);
          if (!check.ok) return;
          const value = valueChars.join('');
          if (check.regex.test(value)) expect(value.startsWith(anchoredLiteralPrefix(pattern))).toBe(true);
          // The compiled filter agrees with RE2 alone.
          expect(compileFilter({ path: pattern })(request({ path: value }))).toBe(check.regex.test(value));
        },
      ),
      { seed: 1302, numRuns: 3000 },
    );
  });
});

describe('compileFilter on lower-case header names', () => {
  it('reads values directly and agrees with the general path', () => {
    const match = compileFilter({ headers: { 'X-User': '^alice$', accept: 'json' } });
    const lower = { 'x-user': 'alice', accept: ['text/html', 'application/json'] };
    expect(match({ method: 'GET', path: '/', headers: lower, namesLowerCase: true })).toBe(true);
    expect(match({ method: 'GET', path: '/', headers: lower })).toBe(true);
    const other = { 'x-user': 'bob', accept: 'application/json' };
    expect(match({ method: 'GET', path: '/', headers: other, namesLowerCase: true })).toBe(false);
    expect(match({ method: 'GET', path: '/', headers: { accept: 'json' }, namesLowerCase: true })).toBe(
      false,
    );
  });
});
