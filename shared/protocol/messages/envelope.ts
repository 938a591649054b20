import * as z from 'zod';
import { ClientIdSchema, ClusterIdSchema, SeqSchema, SessionIdSchema } from '../fields.ts';
import { PROTOCOL_VERSION } from '../version.ts';

/**
 * Fields every message has. Objects are loose on purpose: a field this version does not know
 * is kept, not refused, so a newer peer can add optional fields without a version bump and
 * the router forwards them untouched.
 *
 * `sessionId` is optional on the client's connection (it is bound to one session when it opens)
 * and required on a connector's connection for anything about a session, because one
 * connector connection carries every session of its cluster. The router sets it.
 *
 * `cluster` names the cluster a message comes from. The router sets it on everything it
 * forwards from a cluster to the client (overwriting whatever the cluster wrote) and removes it
 * from what the client sends, so neither side can speak in a cluster's name.
 */
export const envelope = {
  v: z.literal(PROTOCOL_VERSION),
  sessionId: SessionIdSchema.optional(),
  cluster: ClusterIdSchema.optional(),
};

/** Stateful requests carry a client-chosen `reqId` and the session's increasing `seq`. */
export const sequenced = {
  reqId: ClientIdSchema,
  seq: SeqSchema,
};
