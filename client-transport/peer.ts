import { EventEmitter } from 'node:events';
import {
  encodeFrames,
  Reassembler,
  type ReassemblerOptions,
  SINGLE_SENDER_REASSEMBLY,
} from '../shared/protocol/chunking.ts';
import { parseMessage } from '../shared/protocol/codec.ts';
import { DEFAULT_MAX_REASSEMBLED_BYTES } from '../shared/protocol/limits.ts';
import type { CarriedMessage, ChunkMessage, Message } from '../shared/protocol/messages.ts';
import { ReconnectingSocket, type SocketOptions } from './reconnecting-socket.ts';

/**
 * A protocol peer over a reconnecting WebSocket: frames out (chunked above the frame limit),
 * messages in (validated, chunks reassembled). Used by the CLI and the connector alike.
 *
 * Events: `open`, `drop`, `fatal` (from the socket), `message` (a valid Message),
 * `protocol-error` (an invalid frame from the router: logged, never fatal).
 */
export class Peer extends EventEmitter {
  readonly socket: ReconnectingSocket;
  readonly reassembler: Reassembler;
  private lastSweep = 0;
  /**
   * Looks at each chunk before it is buffered; a chunk it returns false for is dropped. The
   * connector refuses here the chunks of an answer its sender may not give, at the first
   * chunk, rather than after buffering the whole message.
   */
  screenChunk?: (chunk: ChunkMessage) => boolean;

  /**
   * `reassembly`: the bounds on incomplete chunked messages. By default one sender may use them
   * all (the CLI); a receiver of many developers' chunks passes `SHARED_REASSEMBLY`.
   */
  constructor(opts: SocketOptions, reassembly: ReassemblerOptions = SINGLE_SENDER_REASSEMBLY) {
    super();
    this.reassembler = new Reassembler({ maxMessageBytes: DEFAULT_MAX_REASSEMBLED_BYTES, ...reassembly });
    this.socket = new ReconnectingSocket(opts);
    this.socket.on('open', () => this.emit('open'));
    this.socket.on('drop', (d) => this.emit('drop', d));
    this.socket.on('fatal', (r) => this.emit('fatal', r));
    this.socket.on('message', (text: string) => this.receive(text));
  }

  start(): this {
    this.socket.start();
    return this;
  }

  get connected(): boolean {
    return this.socket.connected;
  }

  private receive(text: string): void {
    let msg: Message;
    try {
      msg = parseMessage(text, { maxBytes: 256 * 1024 });
      if (msg.type === 'chunk') {
        if (this.screenChunk && !this.screenChunk(msg)) return;
        let whole: CarriedMessage | undefined;
        try {
          whole = this.reassembler.add(msg, Date.now(), senderOf(msg));
        } finally {
          this.reportDropped(Date.now());
        }
        if (!whole) return;
        msg = whole;
      }
    } catch (err) {
      this.emit('protocol-error', err);
      return;
    }
    this.emit('message', msg);
  }

  /**
   * Messages given up on while incomplete (evicted to make room, or too old) are told to whoever
   * sent them, as the refusal of a bad frame is: their ids go in `replyTo`. Old ones are swept
   * here, at most once a second, since nothing else ticks.
   */
  private reportDropped(now: number): void {
    const dropped = this.reassembler.takeEvicted();
    if (now - this.lastSweep >= 1000) {
      this.lastSweep = now;
      dropped.push(...this.reassembler.expire(now));
    }
    for (const d of dropped) this.emit('protocol-error', d.error);
  }

  /** Sends one message (chunked when large); false when not connected. */
  /** Bytes sent and still queued on the connection: how far the network is behind. */
  get bufferedAmount(): number {
    return this.socket.bufferedAmount;
  }

  send(msg: CarriedMessage | Record<string, unknown>): boolean {
    return this.socket.send(encodeFrames(msg as CarriedMessage));
  }

  stop(): void {
    this.socket.stop();
  }
}

/**
 * Whom a chunk is budgeted to: the developer the router stamped on it, else its session (from
 * the router too). Keys of the two kinds never meet, so a claim cannot pass for the other.
 */
export function senderOf(chunk: ChunkMessage): string {
  return chunk.owner !== undefined ? `owner:${chunk.owner}` : `session:${chunk.head.sessionId ?? ''}`;
}
