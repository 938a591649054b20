/**
 * Sizes imposed by API Gateway WebSocket APIs, and the margins this protocol keeps under them.
 * Bytes are UTF-8 bytes of the JSON text, never JavaScript string lengths.
 */

/** API Gateway rejects a WebSocket frame larger than this. */
export const API_GATEWAY_FRAME_BYTES = 32 * 1024;

/** API Gateway rejects a WebSocket message (and a postToConnection payload) larger than this. */
export const API_GATEWAY_MESSAGE_BYTES = 128 * 1024;

/**
 * Bytes a sender leaves free in every frame for the router. On its way through, the router adds
 * `sessionId` (up to 128 chars), prefixes a cluster id (up to 31 chars and ":") to `requestId` and
 * `msgId`, and tags `cluster`. That is under 300 bytes of JSON; 1 KiB leaves room for the error
 * or resume fields a later version may add without making senders re-chunk.
 */
export const ROUTER_HEADROOM_BYTES = 1024;

/** What `encodeFrames` aims for by default: a frame the router can grow and still forward. */
export const DEFAULT_MAX_FRAME_BYTES = API_GATEWAY_FRAME_BYTES - ROUTER_HEADROOM_BYTES;

/** `parseMessage` refuses a single text larger than this unless told otherwise. */
export const DEFAULT_MAX_MESSAGE_BYTES = API_GATEWAY_MESSAGE_BYTES;

/** Largest message a `Reassembler` rebuilds from chunks unless told otherwise. */
export const DEFAULT_MAX_REASSEMBLED_BYTES = 8 * 1024 * 1024;

/** Largest `spec` in a `child.create`, as JSON bytes: one DynamoDB item (400 KB) must hold it. */
export const MAX_CHILD_SPEC_BYTES = 256 * 1024;

/**
 * Deepest nesting of arrays and objects in a message's JSON. The deepest legitimate message
 * (a `child.create` with its spec, subscriptions and filters) is under 10 levels; the bound
 * keeps a hostile `[[[[...` from reaching JSON.stringify and schema checks, which recurse and
 * would overflow the stack long before the 128 KiB size limit stops it.
 */
export const MAX_JSON_DEPTH = 32;

/** How many characters of a bad value an error text repeats (`echo` in echo.ts). */
export const ECHO_MAX_CHARS = 64;
