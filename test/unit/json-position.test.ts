import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { describeJsonError, syntaxErrorOffset } from '../../shared/config/json-position.ts';

const parseError = (text: string) => {
  try {
    JSON.parse(text);
  } catch (err) {
    return err;
  }
  throw new Error(`${text} parsed`);
};

describe('describeJsonError', () => {
  it.each([
    {
      text: '{\n  "a": 1,\n  "b": 2\n  "c": 3\n}',
      where: 'line 4, column 3',
      caret: '      "c": 3\n      ^',
    },
    { text: '{\n "a": [1,]\n}', where: 'line 2, column 10', caret: ' "a": [1,]\n             ^' },
    { text: '{"a":', where: 'line 1, column 6', caret: '{"a":\n         ^' },
    { text: '{"a": tru}', where: 'line 1, column 10', caret: '' },
    { text: '{"a": 1} x', where: 'line 1, column 10', caret: '' },
  ])('names $where for $text, not a character offset', ({ text, where, caret }) => {
    const message = describeJsonError(text, parseError(text));
    expect(message).toContain(where);
    expect(message).not.toMatch(/position \d+/);
    expect(message).toContain(caret);
  });

  it('finds no error in any valid JSON', () => {
    fc.assert(
      fc.property(fc.json(), fc.constantFrom(0, 2), (json, indent) => {
        const text = JSON.stringify(JSON.parse(json), null, indent);
        expect(syntaxErrorOffset(text)).toBeUndefined();
      }),
    );
  });

  it('agrees with V8 on where a broken document breaks, when V8 says', () => {
    fc.assert(
      fc.property(
        fc.json(),
        fc.nat(),
        fc.constantFrom('', ',', '}', ']', ':', 'x', '"'),
        (json, cut, junk) => {
          const text = JSON.stringify(JSON.parse(json), null, 2);
          const broken = text.slice(0, cut % (text.length + 1)) + junk;
          let v8: number | undefined;
          try {
            JSON.parse(broken);
            return;
          } catch (err) {
            const m = (err as Error).message.match(/at position (\d+)/);
            v8 = m ? Number(m[1]) : undefined;
          }
          const ours = syntaxErrorOffset(broken);
          expect(ours).toBeDefined();
          if (v8 !== undefined) expect(ours).toBe(v8);
        },
      ),
    );
  });
});
