/**
 * The developer's copy of a mirrored request, taken on the side while the real request streams
 * to the upstream. It only keeps references to chunks the request passes anyway, up to a limit;
 * past it the copy is dropped at once (not trimmed: a cut body would mislead), and the real
 * request is never held back either way.
 */
export class MirrorTap {
  private chunks: Buffer[] = [];
  private size = 0;
  private over = false;

  constructor(private readonly maxBytes: number) {}

  /** Bound so it can be handed to `on('data')` as is. */
  readonly push = (chunk: Buffer): void => {
    if (this.over) return;
    this.size += chunk.length;
    if (this.size > this.maxBytes) {
      this.over = true;
      this.chunks = [];
      return;
    }
    this.chunks.push(chunk);
  };

  /** The copied body, or undefined when the request was larger than the limit. */
  body(): Buffer | undefined {
    return this.over ? undefined : Buffer.concat(this.chunks, this.size);
  }
}
