import type { LocalLog } from './log.ts';

/**
 * What a start-up undoes: each part that started pushes how to stop it; `unwind` stops them in
 * reverse order, logging (not throwing) a part that fails to stop, so the rest still stop.
 */
export function undoStack(log: LocalLog, what: string) {
  const stops: (() => void | Promise<void>)[] = [];
  return {
    push(...stop: (() => void | Promise<void>)[]): void {
      stops.push(...stop);
    },
    async unwind(): Promise<void> {
      for (const stop of stops.reverse()) {
        try {
          await stop();
        } catch (err) {
          log.warn(`stopping a part of ${what} failed`, err);
        }
      }
      stops.length = 0;
    },
  };
}
