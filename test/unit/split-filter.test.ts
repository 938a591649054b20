import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidSplitFilterError } from '../../shared/split/errors.ts';
import { type AttributesView, compileFilter } from '../../shared/split/filter.ts';
import { findNestedRepeat } from '../../shared/split/nested-repeat.ts';
import { compilePattern, MAX_PATTERN_LENGTH, MAX_PROGRAM_SIZE } from '../../shared/split/pattern.ts';
import { SplitRequestSchema, SplitsRequestSchema } from '../../shared/split/schema.ts';

const str = (stringValue: string) => ({ dataType: 'String', stringValue });

describe('compileFilter: matching', () => {
  const filter = compileFilter({ tenant: '^acme$', priority: '^[0-9]+$' });

  it.each<[string, AttributesView, boolean]>([
    ['every attribute present and matching', { tenant: str('acme'), priority: str('3') }, true],
    [
      'Number values are matched as text',
      { tenant: str('acme'), priority: { dataType: 'Number', stringValue: '42' } },
      true,
    ],
    [
      'custom types keep their base type',
      {
        tenant: { dataType: 'String.id', stringValue: 'acme' },
        priority: { dataType: 'Number.int', stringValue: '7' },
      },
      true,
    ],
    ['one attribute missing', { tenant: str('acme') }, false],
    ['one attribute not matching', { tenant: str('acme'), priority: str('high') }, false],
    ['anchors are honoured', { tenant: str('acme-corp'), priority: str('1') }, false],
    [
      'Binary never matches',
      { tenant: { dataType: 'Binary', stringValue: 'acme' }, priority: str('1') },
      false,
    ],
    ['no attributes at all', {}, false],
    ['names are case sensitive', { Tenant: str('acme'), priority: str('1') }, false],
  ])('%s -> %s', (_, attributes, expected) => {
    // Act / Assess
    expect(filter.matches(attributes)).toBe(expected);
  });

  it('searches unanchored, like RegExp.test', () => {
    // Prepare
    const f = compileFilter({ user: 'bob' });
    // Act / Assess
    expect(f.matches({ user: str('alice,bob,carol') })).toBe(true);
    expect(f.matches({ user: str('alice') })).toBe(false);
  });

  it('supports RE2 flags such as case-insensitivity', () => {
    expect(compileFilter({ user: '(?i)^BOB$' }).matches({ user: str('bob') })).toBe(true);
  });

  it('matches a long value in one linear pass (a classic ReDoS input)', () => {
    // `(a|a)*b`-style blowups need backtracking; RE2 answers at once for 100k characters.
    const f = compileFilter({ v: '^(a|aa)*c$' });
    expect(f.matches({ v: str(`${'a'.repeat(100_000)}b`) })).toBe(false);
  });
});

describe('compileFilter: rejections', () => {
  it.each<[string, Record<string, string>, RegExp]>([
    ['an empty filter', {}, /empty and would match nothing/],
    [
      'more attributes than SQS carries',
      Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`a${i}`, 'x'])),
      /at most 10/,
    ],
    ['an empty pattern', { a: '' }, /pattern is empty/],
    ['a pattern above the length cap', { a: 'x'.repeat(MAX_PATTERN_LENGTH + 1) }, /above the limit of 256/],
    ['a syntax error', { a: '(unclosed' }, /missing closing \)/],
    ['a backreference', { a: '(a+)\\1' }, /no backreferences or lookarounds/],
    ['a lookahead', { a: 'foo(?=bar)' }, /invalid or unsupported Perl syntax/],
    ['ReDoS: (a+)+', { a: '^(a+)+$' }, /catastrophic backtracking/],
    ['ReDoS: (\\w*\\s?)*', { a: '^(\\w*\\s?)*$' }, /catastrophic backtracking/],
    ['ReDoS: nested {n,}', { a: '(?:x+y){2,}' }, /catastrophic backtracking/],
    ['a huge repeat count', { a: 'a{1001}' }, /invalid repeat count/],
    [
      'a program above the size cap',
      { a: '\\w{1000}\\w{1000}\\w{1000}' },
      new RegExp(`above the limit of ${MAX_PROGRAM_SIZE}`),
    ],
  ])('%s', (_, filter, message) => {
    // Act
    const act = () => compileFilter(filter);
    // Assess
    expect(act).toThrow(InvalidSplitFilterError);
    expect(act).toThrow(message);
  });

  it('names the attribute and carries a stable code', () => {
    try {
      compileFilter({ tenant: '(a*)*' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(InvalidSplitFilterError);
      expect((err as InvalidSplitFilterError).code).toBe('invalid_split_filter');
      expect((err as InvalidSplitFilterError).httpStatus).toBe(400);
      expect((err as Error).message).toContain("attribute 'tenant'");
    }
  });
});

describe('findNestedRepeat', () => {
  it.each<[string, boolean]>([
    ['(a+)+', true],
    ['(a*)*', true],
    ['((ab)*c)+', true],
    ['(?:a|b+)*', true],
    ['(?P<x>a+){3,}', true],
    ['(a+)*?', true],
    ['a+b+c*', false],
    ['(a+)?', false],
    ['(a+){2,5}', false],
    ['(ab)+', false],
    ['(?i)a+', false],
    ['[(a+)]+', false],
    ['\\(a+\\)+', false],
    ['\\Q(a+)\\E+', false],
    ['[]a+]*', false],
    ['[[:alpha:]]+', false],
    ['\\p{Greek}+(x)+', false],
    ['x{2}{', false],
    ['^(order|invoice)-[0-9]+$', false],
  ])('%s -> nested %s', (pattern, nested) => {
    expect(findNestedRepeat(pattern) !== undefined).toBe(nested);
  });

  it('accepts any concatenation of singly repeated atoms (property)', () => {
    const atom = fc.constantFrom('a', '\\d', '[a-z]', '(?:ab)', '(x|y)', '.', '\\p{L}');
    const op = fc.constantFrom('', '*', '+', '?', '{2}', '{1,3}', '{2,}', '*?');
    fc.assert(
      fc.property(fc.array(fc.tuple(atom, op), { minLength: 1, maxLength: 8 }), (parts) => {
        const pattern = parts.map(([a, o]) => a + o).join('');
        expect(findNestedRepeat(pattern)).toBeUndefined();
        expect(() => compilePattern('p', pattern)).not.toThrow();
      }),
    );
  });

  it('rejects any group holding an unbounded repeat when the group is itself unbounded (property)', () => {
    const inner = fc.constantFrom('a+', 'b*', '\\w+', '[0-9]{1,}', 'x|y+');
    const outer = fc.constantFrom('*', '+', '{1,}', '{3,}', '+?');
    fc.assert(
      fc.property(inner, outer, fc.constantFrom('(', '(?:', '(?P<g>'), (i, o, open) => {
        expect(findNestedRepeat(`^${open}${i})${o}$`)).toBeDefined();
      }),
    );
  });
});

describe('SplitRequestSchema', () => {
  it.each<[unknown, boolean]>([
    [{ queue: 'orders', mode: 'steal', filter: { tenant: '^acme$' } }, true],
    [{ queue: 'orders', mode: 'mirror', filter: { 'x-user.id': 'bob', n: '^[0-9]+$' } }, true],
    [{ queue: 'orders', mode: 'copy', filter: { tenant: 'a' } }, false],
    [{ queue: 'orders', mode: 'steal', filter: {} }, false],
    [{ queue: 'orders', mode: 'steal', filter: { tenant: '(a+)+' } }, false],
    [{ queue: 'orders', mode: 'steal', filter: { 'bad name': 'a' } }, false],
    [{ queue: 'orders', mode: 'steal' }, false],
    [{ queue: 'or/ders', mode: 'steal', filter: { a: 'b' } }, false],
    [{ queue: 'orders', mode: 'steal', filter: { a: 'b' }, extra: true }, false],
  ])('%j -> valid %s', (input, valid) => {
    expect(SplitRequestSchema.safeParse(input).success).toBe(valid);
  });

  it("reports the compiler's reason for a rejected regex", () => {
    const r = SplitRequestSchema.safeParse({ queue: 'orders', mode: 'steal', filter: { tenant: '(a+)+' } });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.message).toMatch(/attribute 'tenant'.*catastrophic/);
  });

  it('rejects two splits of one queue', () => {
    const split = { queue: 'orders', mode: 'steal', filter: { a: 'b' } };
    const r = SplitsRequestSchema.safeParse([split, { ...split, mode: 'mirror' }]);
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.message).toMatch(/split twice/);
  });
});
