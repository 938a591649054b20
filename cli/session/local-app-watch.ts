import { connect } from 'node:net';
import type { Progress } from './progress.ts';

/** Does anything accept connections on 127.0.0.1:port? */
export function listening(port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const done = (up: boolean) => {
      socket.destroy();
      resolve(up);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export interface LocalAppWatch {
  stop(): void;
}

/**
 * Warns at once when nothing listens on the local app's port, and again every `repeatMs` while
 * that lasts: until the app starts, every matching request is served by the cluster, which
 * otherwise looks exactly like an intercept that does not work. Says so when the app comes up.
 */
export function watchLocalApp(
  port: number,
  progress: Pick<Progress, 'warn' | 'info'>,
  { pollMs = 2_000, repeatMs = 15_000 } = {},
): LocalAppWatch {
  let down = false;
  let lastWarned = 0;
  let stopped = false;
  const check = async () => {
    const up = await listening(port);
    if (stopped) return;
    const now = Date.now();
    if (!up && (!down || now - lastWarned >= repeatMs)) {
      progress.warn(
        `nothing listens on 127.0.0.1:${port} (--to): matching requests go to the cluster’s own service until your app starts there`,
      );
      lastWarned = now;
    } else if (up && down) {
      progress.info(`your app on 127.0.0.1:${port} is up: matching requests reach it`);
    }
    down = !up;
  };
  void check();
  const timer = setInterval(() => void check(), pollMs);
  // Never what keeps the process alive.
  timer.unref();
  return {
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}
