import * as z from 'zod';
import {
  Base64Schema,
  ClientIdSchema,
  FilePathSchema,
  HostSchema,
  PortSchema,
  ServiceSchema,
} from '../fields.ts';
import { envelope, sequenced } from './envelope.ts';

/**
 * Stateful operations: the client asks, the DEFAULT cluster alone answers, so the developer
 * gets one consistent view. Each reply echoes `reqId` and `seq` so the client can release
 * replies in request order (see ordering.ts).
 */

/** Largest `length` of one `file.read`; read a bigger file in parts with `offset`. */
export const MAX_FILE_READ_BYTES = 4 * 1024 * 1024;

export const EnvGetSchema = z.looseObject({
  ...envelope,
  type: z.literal('env.get'),
  ...sequenced,
  service: ServiceSchema,
});

export const FileReadSchema = z.looseObject({
  ...envelope,
  type: z.literal('file.read'),
  ...sequenced,
  service: ServiceSchema,
  path: FilePathSchema,
  offset: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  length: z.number().int().min(1).max(MAX_FILE_READ_BYTES).optional(),
});

export const FileStatSchema = z.looseObject({
  ...envelope,
  type: z.literal('file.stat'),
  ...sequenced,
  service: ServiceSchema,
  path: FilePathSchema,
});

export const FileListSchema = z.looseObject({
  ...envelope,
  type: z.literal('file.list'),
  ...sequenced,
  service: ServiceSchema,
  path: FilePathSchema,
});

export const DnsResolveSchema = z.looseObject({
  ...envelope,
  type: z.literal('dns.resolve'),
  ...sequenced,
  host: HostSchema,
  family: z.union([z.literal(4), z.literal(6)]).optional(),
});

export const OutgoingConnectSchema = z.looseObject({
  ...envelope,
  type: z.literal('outgoing.connect'),
  ...sequenced,
  /** Chosen by the client; names the tunnel in `outgoing.data` / `outgoing.close`. */
  connId: ClientIdSchema,
  host: HostSchema,
  port: PortSchema,
});

export const EnvResultSchema = z.looseObject({
  ...envelope,
  type: z.literal('env.result'),
  ...sequenced,
  env: z.record(z.string().min(1).max(1024), z.string().max(128 * 1024)),
});

export const FileKindSchema = z.enum(['file', 'directory', 'symlink', 'other']);

export const FileInfoSchema = z.looseObject({
  type: FileKindSchema,
  size: z.number().int().min(0),
  /** Unix permission bits. */
  mode: z.number().int().min(0).optional(),
  mtimeMs: z.number().min(0).optional(),
});

export const FileEntrySchema = z.looseObject({
  name: z.string().min(1).max(255),
  type: FileKindSchema,
  size: z.number().int().min(0).optional(),
});

export const FileResultSchema = z
  .looseObject({
    ...envelope,
    type: z.literal('file.result'),
    ...sequenced,
    /** Bytes read (file.read). */
    data: Base64Schema.optional(),
    /** True when the read reached the end of the file. */
    eof: z.boolean().optional(),
    /** The file's metadata (file.stat). */
    stat: FileInfoSchema.optional(),
    /** Directory entries (file.list). */
    entries: z.array(FileEntrySchema).max(10_000).optional(),
  })
  .refine((m) => m.data !== undefined || m.stat !== undefined || m.entries !== undefined, {
    message: 'a file.result carries "data", "stat" or "entries"',
    path: ['data'],
  });

export const DnsResultSchema = z.looseObject({
  ...envelope,
  type: z.literal('dns.result'),
  ...sequenced,
  addresses: z.array(z.union([z.ipv4(), z.ipv6()])).max(256),
});

export const OutgoingConnectedSchema = z.looseObject({
  ...envelope,
  type: z.literal('outgoing.connected'),
  ...sequenced,
  connId: ClientIdSchema,
});

/** One tunnelled connection's bytes, both ways, through the default cluster. */
export const OutgoingDataSchema = z.looseObject({
  ...envelope,
  type: z.literal('outgoing.data'),
  connId: ClientIdSchema,
  data: Base64Schema,
});

export const OutgoingCloseSchema = z.looseObject({
  ...envelope,
  type: z.literal('outgoing.close'),
  connId: ClientIdSchema,
  reason: z.string().max(1024).optional(),
});
