/**
 * The bytes a `StreamFollower`'s reader (stream_follower.ts) gathers before one write (an
 * HTTP-TS response's, src/output/ts_stream.ts; a recording file's,
 * src/recorder/recorder.ts): each message's PAT and PMT first when it has
 * them, then its packets. It holds {@link BATCH_BYTES} and grows only for a
 * single message longer than what is left, going back to that size once
 * cleared, so memory stays bounded.
 *
 * @module
 */

/** Bytes gathered into one write at most (more when a single message is longer). */
export const BATCH_BYTES = 64 * 1024;

/** A message as `StreamFollower.next()` gives it, the part a batch takes. */
export interface BatchMessage {
  programInfo: Uint8Array | undefined;
  packets: Uint8Array;
}

export class FollowerBatch {
  #out = new Uint8Array(BATCH_BYTES);
  #length = 0;

  /** Bytes gathered. */
  get length(): number {
    return this.#length;
  }

  /** Whether it holds {@link BATCH_BYTES} or more: time to write. */
  get full(): boolean {
    return this.#length >= BATCH_BYTES;
  }

  /** The bytes gathered; valid until the next `append` or `clear`. */
  get bytes(): Uint8Array {
    return this.#out.subarray(0, this.#length);
  }

  /** Appends a message: its program info first, when it has any. */
  append(message: BatchMessage): void {
    const { programInfo, packets } = message;
    const needed = this.#length + (programInfo?.length ?? 0) + packets.length;
    if (needed > this.#out.length) {
      const larger = new Uint8Array(Math.max(needed, 2 * this.#out.length));
      larger.set(this.#out.subarray(0, this.#length));
      this.#out = larger;
    }
    if (programInfo !== undefined) {
      this.#out.set(programInfo, this.#length);
      this.#length += programInfo.length;
    }
    this.#out.set(packets, this.#length);
    this.#length += packets.length;
  }

  /** Empties it (once its bytes are written); one grown for a long message goes back to the usual size. */
  clear(): void {
    this.#length = 0;
    if (this.#out.length > BATCH_BYTES) this.#out = new Uint8Array(BATCH_BYTES);
  }
}
