/**
 * The protocol version every message carries as `v`. It changes only for a breaking change
 * (a field removed or its meaning changed); new message types and new optional fields keep it.
 */
export const PROTOCOL_VERSION = 1 as const;
export type ProtocolVersion = typeof PROTOCOL_VERSION;
