import type { SessionFeatures } from '../../shared/sessions/features.ts';
import type { SessionView } from '../../shared/sessions/model.ts';

/**
 * Session features for unit tests of the lifecycle: no splits or branches behind them, but every
 * release is recorded (and the session counts as a holder until released), so a test can assert
 * that an ending path released what the session held.
 */
export class RecordingFeatures implements SessionFeatures {
  readonly released: string[] = [];
  /** Sessions that hold something until released (registered by `registerSplits`). */
  readonly holding = new Set<string>();
  /** Makes the next release throw: a router that dies half-way through an ending. */
  failNextRelease = false;

  async attachBranches(): Promise<void> {}

  async registerSplits(s: SessionView): Promise<Record<string, string>> {
    this.holding.add(s.id);
    return Object.fromEntries(
      (s.splits as { queue: string }[]).map((x) => [x.queue, `https://sqs.local/${s.id}-${x.queue}`]),
    );
  }

  async childSpecExtras(): Promise<Record<string, unknown>> {
    return {};
  }

  async release(s: SessionView): Promise<void> {
    if (this.failNextRelease) {
      this.failNextRelease = false;
      throw new Error('the router died here');
    }
    this.released.push(s.id);
    this.holding.delete(s.id);
  }

  async holders(): Promise<Set<string>> {
    return new Set(this.holding);
  }
}
