import { randomBytes } from 'node:crypto';

/**
 * A stolen or mirrored request's id: 128 random bits, base64url (22 characters). A counter
 * would let a developer who saw one id guess the next ones; with this many bits nobody can
 * name a request they were not given. The characters fit the protocol's id alphabet.
 */
export function newRequestId(): string {
  return randomBytes(16).toString('base64url');
}
