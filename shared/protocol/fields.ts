import * as z from 'zod';

/**
 * Field schemas shared by several messages. Each says in its error text what a valid value
 * looks like, because that text reaches the person who sent the message.
 */

/** Longest id a peer may choose. */
export const ID_MAX = 128;
/** Longest id after the router prefixed a cluster id (31 chars) and ":". */
export const NAMESPACED_ID_MAX = ID_MAX + 32;

/**
 * Ids the session's client chooses (`reqId`, `subId`, `connId`). No ":" so that the router can
 * tell them from namespaced ids (`<clusterId>:<id>`) without guessing.
 */
export const ClientIdSchema = z
  .string()
  .regex(
    /^[A-Za-z0-9._~-]{1,128}$/,
    'an id of 1 to 128 letters, digits, ".", "_", "~" or "-" (no ":", the router reserves it)',
  );

/**
 * Ids that may carry a cluster namespace (`requestId`, `msgId`, a cluster-scoped `subId`):
 * plain as the cluster chose them, or `<clusterId>:<id>` on the client side of the router.
 */
export const NamespacedIdSchema = z
  .string()
  .regex(
    /^[A-Za-z0-9._~:-]{1,160}$/,
    'an id of 1 to 160 letters, digits, ".", "_", "~", "-" or ":" (for example "eu-west:42")',
  );

export const SessionIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9._-]{1,128}$/, 'a session id of 1 to 128 letters, digits, ".", "_" or "-"');

export const ClusterIdSchema = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,30}$/, 'a cluster id: lowercase letters, digits and "-", at most 31 chars');

/** Per-session sequence number of a stateful request, echoed by its reply. */
export const SeqSchema = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/**
 * Bytes travel as standard base64 (RFC 4648, with padding). Checked as an alphabet plus a
 * length rule rather than as 4-character groups: the grouped regex is ~6x slower, and bodies
 * of several MiB go through here.
 */
export const Base64Schema = z
  .string()
  .regex(/^[A-Za-z0-9+/]*={0,2}$/, 'standard base64 with padding')
  .refine((s) => s.length % 4 === 0, 'standard base64 with padding (length a multiple of 4)');

const dnsLabel = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
/** A Kubernetes service: `name` or `namespace/name` (DNS-1123 labels). */
export const ServiceSchema = z
  .string()
  .max(253)
  .regex(
    new RegExp(`^(?:${dnsLabel}/)?${dnsLabel}$`),
    'a service as "name" or "namespace/name" (lowercase letters, digits and "-")',
  );

/** An absolute path inside the service's container. */
export const FilePathSchema = z
  .string()
  .min(1)
  .max(4096)
  .regex(/^\/[^\0]*$/, 'an absolute path starting with "/" and without NUL characters');

/** A host name or an IP address (IPv6 without brackets). */
export const HostSchema = z
  .string()
  .regex(/^[A-Za-z0-9._:-]{1,253}$/, 'a host name or IP address (letters, digits, ".", "-", "_", ":")');

export const PortSchema = z.number().int().min(1).max(65535);

/** An error code: stable, lowercase, for programs to branch on. */
export const ErrorCodeSchema = z
  .string()
  .regex(/^[a-z][a-z0-9_]{0,63}$/, 'a lowercase code such as "not_found"');

/** Longest error text, in UTF-16 code units (what `string.length` counts). */
export const ERROR_TEXT_MAX = 4096;

/** A human-readable explanation; bounded so an error can never fill a frame. */
export const ErrorTextSchema = z.string().min(1).max(ERROR_TEXT_MAX);

/** HTTP header name (an RFC 9110 token). */
export const HeaderNameSchema = z
  .string()
  .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$/, 'an HTTP header name (RFC 9110 token)');

export const HeadersSchema = z.record(HeaderNameSchema, z.string().max(64 * 1024));

export const HttpMethodSchema = z
  .string()
  .regex(/^[A-Za-z]{1,20}$/, 'an HTTP method such as "GET" (letters only)');

/** Request path with optional query, as received by the service. */
export const HttpPathSchema = z
  .string()
  .min(1)
  .max(16 * 1024);
