import type { RouterApi } from '../router/api-client.ts';
import type { Progress } from './progress.ts';

/**
 * Ends the session a command creates, wherever Ctrl-C (or SIGTERM) lands: while the router is
 * still creating it (the POST in flight: its answer names the session, which is then ended),
 * while its clusters are getting ready (`pending`), or once it runs. The router's DELETE is the
 * one ending; it releases everything the session holds. A second Ctrl-C exits at once.
 *
 * Installed before the session is created, so no window is left in which Ctrl-C kills the CLI
 * and leaves a session behind for the expiry to find.
 */
export class SessionEnding {
  private id: string | undefined;
  private creating: Promise<string | undefined> | undefined;
  private ready = false;
  private readonly cleanups: (() => void | Promise<void>)[] = [];
  private ended: Promise<void> | undefined;

  constructor(
    private readonly api: RouterApi,
    private readonly progress: Progress,
  ) {}

  /** Ends the session on the first SIGINT/SIGTERM and exits (0 once the session is ended). */
  static onInterrupt(api: RouterApi, progress: Progress): SessionEnding {
    const ending = new SessionEnding(api, progress);
    let interrupted = false;
    const handler = () => {
      if (interrupted) process.exit(130);
      interrupted = true;
      process.stderr.write('\n');
      ending.end().then(
        () => process.exit(0),
        (err) => {
          process.stderr.write(`switchyard: ending the session failed: ${(err as Error).message}\n`);
          process.exit(1);
        },
      );
    };
    process.on('SIGINT', handler);
    process.on('SIGTERM', handler);
    return ending;
  }

  /** The POST that creates the session: until it answers, an ending waits for the id it returns. */
  creation<T extends { id: string }>(post: Promise<T>): Promise<T> {
    this.creating = post.then(
      (s) => {
        this.id = s.id;
        return s.id;
      },
      () => undefined,
    );
    return post;
  }

  /** The session is ready: from here an ending is an ordinary one. */
  markReady(): void {
    this.ready = true;
  }

  /** Something local to stop first (the WebSocket, a listening port). */
  also(cleanup: () => void | Promise<void>): void {
    this.cleanups.push(cleanup);
  }

  get sessionId(): string | undefined {
    return this.id;
  }

  /** True once an ending started: what the command was doing is moot (its errors too). */
  get started(): boolean {
    return this.ended !== undefined;
  }

  /** Ends the session (once; later calls share the first). */
  end(): Promise<void> {
    this.ended ??= this.run();
    return this.ended;
  }

  private async run(): Promise<void> {
    for (const c of this.cleanups) await c();
    if (!this.id && this.creating)
      this.progress.step('waiting for the router to name the session it is creating');
    const id = this.id ?? (await this.creating);
    if (!id) {
      if (this.creating) this.progress.info('no session was created');
      return;
    }
    this.progress.step(
      this.ready ? `ending session ${id}` : `ending session ${id}, which was still being set up`,
    );
    await this.api.call('DELETE', `/v1/sessions/${id}`);
    this.progress.info(`session ${id} ended`);
  }
}
