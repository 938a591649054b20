import { randomFillSync } from 'node:crypto';

const ID_BYTES = 16;
// One CSPRNG call fills ids for 256 requests: a call per id costs microseconds on a busy host.
const pool = Buffer.alloc(ID_BYTES * 256);
let next = pool.length;

/**
 * A stolen or mirrored request's id: 128 random bits, base64url (22 characters). A counter
 * would let a developer who saw one id guess the next ones; with this many bits nobody can
 * name a request they were not given. The characters fit the protocol's id alphabet.
 */
export function newRequestId(): string {
  if (next === pool.length) {
    randomFillSync(pool);
    next = 0;
  }
  const id = pool.toString('base64url', next, next + ID_BYTES);
  next += ID_BYTES;
  return id;
}
