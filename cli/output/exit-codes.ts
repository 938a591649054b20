/**
 * The exit codes of `switchyard`, one table (docs/cli.md shows it): scripts branch on these.
 * `exec` exits with its command's code instead.
 */
export const EXIT = {
  ok: 0,
  /** Anything else that went wrong; the message says what and what to do. */
  error: 1,
  /** The command line: an unknown command or option, a missing or malformed argument. */
  usage: 2,
  /** The session is over and cannot be resumed (ended, expired, or its router state lost). */
  gone: 3,
  /** No router at the URL, or what answers is not a Switchyard router. */
  unreachable: 4,
  /** The router refused the token (unknown, revoked, or a cluster's token). */
  refused: 5,
  /** A second Ctrl-C while the session was being ended. */
  interrupted: 130,
} as const;

/** The exit code for an error's stable code. */
export function exitCodeFor(code: string | undefined): number {
  switch (code) {
    case 'gone':
      return EXIT.gone;
    case 'router_unreachable':
    case 'not_a_router':
      return EXIT.unreachable;
    case 'unauthorized':
    case 'token_refused':
      return EXIT.refused;
    default:
      return EXIT.error;
  }
}
