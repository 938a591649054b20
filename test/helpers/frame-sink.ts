import { expect } from 'vitest';

/** A frame as the session client sends it. */
export type Msg = Record<string, unknown> & { type: string };

/** A stand-in for the session connection: keeps every frame sent, in order. */
export function sink(): { sent: Msg[]; sendOrHold: (m: Msg) => void } {
  const sent: Msg[] = [];
  return { sent, sendOrHold: (m: Msg) => void sent.push(m) };
}

/** Waits up to 2.5 s for `pred`, then asserts it (a test that waits for nothing still fails). */
export async function until(pred: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !pred(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(pred()).toBe(true);
}
