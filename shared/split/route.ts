import type { ActiveSplit } from './active-splits.ts';
import type { AttributesView } from './filter.ts';

export interface Decision {
  /** The earliest split whose filter matches; undefined: the message goes to the fallback only. */
  winner?: ActiveSplit | undefined;
  /** Later splits that matched too and lost the message to the winner. */
  losers: ActiveSplit[];
}

/**
 * Picks the split a message belongs to. `splits` are sorted earliest first, so the first match
 * wins deterministically whatever order the store or the cache returned them in before sorting.
 * Every filter is still evaluated, so the losers can be told (their `lost` counter).
 */
export function decide(attributes: AttributesView, splits: readonly ActiveSplit[]): Decision {
  let winner: ActiveSplit | undefined;
  const losers: ActiveSplit[] = [];
  for (const s of splits) {
    if (!s.compiled.matches(attributes)) continue;
    if (winner) losers.push(s);
    else winner = s;
  }
  return { winner, losers };
}

export type DestinationKind = 'output' | 'fallback';
export interface Destination {
  url: string;
  kind: DestinationKind;
}

/** steal -> output queue; mirror -> output and fallback; no match -> fallback. */
export function destinations(decision: Decision, fallbackUrl: string): Destination[] {
  const { winner } = decision;
  if (!winner) return [{ url: fallbackUrl, kind: 'fallback' }];
  const output: Destination = { url: winner.outputQueueUrl, kind: 'output' };
  return winner.mode === 'mirror' ? [output, { url: fallbackUrl, kind: 'fallback' }] : [output];
}
