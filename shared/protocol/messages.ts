import type * as z from 'zod';
import * as zod from 'zod';
import { ChunkSchema } from './messages/chunk.ts';
import {
  BranchCreateSchema,
  BranchDeleteSchema,
  BranchStatusSchema,
  ChildCloseSchema,
  ChildCreateSchema,
  ChildFailedSchema,
  ChildReadySchema,
  ErrorMessageSchema,
  GoodbyeSchema,
  HelloSchema,
  PingSchema,
  PongSchema,
  SessionStatusSchema,
} from './messages/control.ts';
import {
  DnsResolveSchema,
  DnsResultSchema,
  EnvGetSchema,
  EnvResultSchema,
  FileListSchema,
  FileReadSchema,
  FileResultSchema,
  FileStatSchema,
  OutgoingCloseSchema,
  OutgoingConnectedSchema,
  OutgoingConnectSchema,
  OutgoingDataSchema,
} from './messages/stateful.ts';
import {
  CloseSchema,
  DataSchema,
  RequestSchema,
  ResponseSchema,
  SubscribedSchema,
  SubscribeSchema,
  UnsubscribeSchema,
} from './messages/traffic.ts';
import type { MessageType } from './types.ts';
import { PROTOCOL_VERSION } from './version.ts';

/** One schema per type; the key is the `type` the schema accepts. */
export const MESSAGE_SCHEMAS = {
  'env.get': EnvGetSchema,
  'file.read': FileReadSchema,
  'file.stat': FileStatSchema,
  'file.list': FileListSchema,
  'dns.resolve': DnsResolveSchema,
  'outgoing.connect': OutgoingConnectSchema,
  'env.result': EnvResultSchema,
  'file.result': FileResultSchema,
  'dns.result': DnsResultSchema,
  'outgoing.connected': OutgoingConnectedSchema,
  'outgoing.data': OutgoingDataSchema,
  'outgoing.close': OutgoingCloseSchema,
  subscribe: SubscribeSchema,
  unsubscribe: UnsubscribeSchema,
  subscribed: SubscribedSchema,
  request: RequestSchema,
  response: ResponseSchema,
  data: DataSchema,
  close: CloseSchema,
  hello: HelloSchema,
  goodbye: GoodbyeSchema,
  ping: PingSchema,
  pong: PongSchema,
  'child.create': ChildCreateSchema,
  'child.ready': ChildReadySchema,
  'child.failed': ChildFailedSchema,
  'child.close': ChildCloseSchema,
  'session.status': SessionStatusSchema,
  'branch.create': BranchCreateSchema,
  'branch.delete': BranchDeleteSchema,
  'branch.status': BranchStatusSchema,
  error: ErrorMessageSchema,
  chunk: ChunkSchema,
} as const satisfies Record<MessageType, z.ZodType>;

export const MessageSchema = zod.discriminatedUnion(
  'type',
  Object.values(MESSAGE_SCHEMAS) as [
    (typeof MESSAGE_SCHEMAS)[MessageType],
    ...(typeof MESSAGE_SCHEMAS)[MessageType][],
  ],
);

export type MessageOf<T extends MessageType> = z.infer<(typeof MESSAGE_SCHEMAS)[T]>;
export type Message = { [T in MessageType]: MessageOf<T> }[MessageType];

export type ChunkMessage = MessageOf<'chunk'>;
export type ErrorMessage = MessageOf<'error'>;
export type SubscribedMessage = MessageOf<'subscribed'>;
/** A message that is not a chunk: what `encodeFrames` cuts and a `Reassembler` rebuilds. */
export type CarriedMessage = Exclude<Message, ChunkMessage>;

/** Fields of a message other than `v` and `type`, for the constructor below. */
export type MessageFields<T extends MessageType> = Omit<MessageOf<T>, 'v' | 'type'>;

/** Build a message of this version: `message('ping', { nonce: 'a' })`. */
export function message<T extends MessageType>(type: T, fields: MessageFields<T>): MessageOf<T> {
  return { v: PROTOCOL_VERSION, type, ...fields } as MessageOf<T>;
}
