import { InvalidSplitFilterError } from './errors.ts';
import { type CompiledPattern, compilePattern } from './pattern.ts';

/** A split filter as the API receives it: message attribute name -> regular expression. */
export type SplitFilter = Record<string, string>;

/** SQS carries at most 10 message attributes, so a filter can never need more. */
export const MAX_FILTER_ATTRIBUTES = 10;

/** Message attribute as the splitter sees it (the Lambda SQS record's field names). */
export interface AttributeView {
  dataType: string;
  stringValue?: string | undefined;
}
export type AttributesView = Record<string, AttributeView>;

export interface CompiledFilter {
  readonly filter: SplitFilter;
  /** True when every filtered attribute is present with a String or Number value matching its pattern. */
  matches(attributes: AttributesView): boolean;
}

/**
 * String and Number attributes (including custom types such as `Number.int` or `String.json`)
 * carry their value as a string, which is what the pattern sees. Binary attributes never match:
 * a regex over arbitrary bytes (or their base64 form) would silently depend on an encoding.
 */
function textOf(a: AttributeView | undefined): string | undefined {
  if (!a || a.stringValue === undefined) return undefined;
  return a.dataType.startsWith('String') || a.dataType.startsWith('Number') ? a.stringValue : undefined;
}

export function compileFilter(filter: SplitFilter): CompiledFilter {
  const entries = Object.entries(filter);
  if (entries.length === 0) {
    throw new InvalidSplitFilterError(
      'the filter is empty and would match nothing: give at least one attribute, e.g. {"tenant": "^acme$"}',
    );
  }
  if (entries.length > MAX_FILTER_ATTRIBUTES) {
    throw new InvalidSplitFilterError(
      `the filter names ${entries.length} attributes, but an SQS message carries at most ${MAX_FILTER_ATTRIBUTES}`,
    );
  }
  const compiled: [string, CompiledPattern][] = entries.map(([name, pattern]) => {
    if (name.length === 0) throw new InvalidSplitFilterError('a filter attribute name is empty');
    return [name, compilePattern(name, pattern)];
  });
  return {
    filter: { ...filter },
    matches(attributes) {
      for (const [name, pattern] of compiled) {
        const text = textOf(attributes[name]);
        if (text === undefined || !pattern.test(text)) return false;
      }
      return true;
    },
  };
}
