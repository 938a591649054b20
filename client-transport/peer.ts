import { EventEmitter } from 'node:events';
import { encodeFrames, Reassembler } from '../shared/protocol/chunking.ts';
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
  private readonly reassembler = new Reassembler({ maxMessageBytes: DEFAULT_MAX_REASSEMBLED_BYTES });
  /**
   * Looks at each chunk before it is buffered; a chunk it returns false for is dropped. The
   * connector refuses here the chunks of an answer its sender may not give, at the first
   * chunk, rather than after buffering the whole message.
   */
  screenChunk?: (chunk: ChunkMessage) => boolean;

  constructor(opts: SocketOptions) {
    super();
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
        const whole = this.reassembler.add(msg, Date.now());
        if (!whole) return;
        msg = whole;
      }
    } catch (err) {
      this.emit('protocol-error', err);
      return;
    }
    this.emit('message', msg);
  }

  /** Sends one message (chunked when large); false when not connected. */
  send(msg: CarriedMessage | Record<string, unknown>): boolean {
    return this.socket.send(encodeFrames(msg as CarriedMessage));
  }

  stop(): void {
    this.socket.stop();
  }
}
