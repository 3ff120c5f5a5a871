/**
 * Turns what a publisher sends, a byte stream cut into SRT messages of any
 * size, back into whole MPEG-TS packets, 7 to a message, before anything is
 * inspected or stored.
 *
 * Senders do not all cut the stream on packet boundaries: srt-live-transmit
 * reads 1456 bytes at a time, and ffmpeg does with `payload_size=1456`. A
 * message then ends inside a packet, and the next one goes on with it. The
 * reassembler keeps the unfinished packet for the next message, and finds the
 * packet boundaries again (the sync byte 0x47 every 188 bytes) after a lost
 * message or bytes that do not belong: those bytes are discarded and
 * counted, never passed on. Input that is not MPEG-TS at all is therefore
 * discarded whole, and {@link TsReassembler.discardedBytes} says how much.
 *
 * Pure: no I/O, no time. The common input (whole packets, 7 to a message)
 * goes out as the very view it came in, without a copy.
 *
 * @module
 */

import { SYNC_BYTE, TS_PACKET_SIZE } from "./mpegts.ts";

/** Packets in one message out: 1316 bytes, what SRT live mode carries by default. */
export const PACKETS_PER_MESSAGE = 7;
/**
 * Sync bytes 188 apart needed to find the packet boundaries: one 0x47 in
 * every 256 bytes of noise is a candidate, three in a row one in 2^24.
 */
export const SYNC_CONFIRMATIONS = 3;

/**
 * Bytes discarded without a single packet found before a publisher is said
 * not to send MPEG-TS: more than a sender starting inside a packet, or an
 * unlucky first message, ever discards.
 */
export const NOT_TS_NOTICE_BYTES = 10 * TS_PACKET_SIZE;

/** Bytes a candidate boundary needs to be confirmed: its sync byte and the next ones'. */
const CONFIRM_SPAN = (SYNC_CONFIRMATIONS - 1) * TS_PACKET_SIZE + 1;
const MESSAGE_BYTES = PACKETS_PER_MESSAGE * TS_PACKET_SIZE;

/**
 * Called with each message of whole packets. The view is only valid during
 * the call (it may be the reassembler's own buffer, reused for the next).
 */
export type EmitMessage = (packets: Uint8Array) => void;

/** Reassembles one publisher's byte stream into messages of whole TS packets. */
export class TsReassembler {
  /** Bytes kept from earlier input (an unfinished packet, or an unconfirmed boundary), then the new input. */
  #work = new Uint8Array(CONFIRM_SPAN + 1500);
  #kept = 0;
  /** The message being filled, and how many packets it has. */
  readonly #group = new Uint8Array(MESSAGE_BYTES);
  #grouped = 0;
  #locked = false;
  #discarded = 0;
  #syncLosses = 0;
  #packets = 0;

  /** Bytes discarded so far because they were not part of a packet. */
  get discardedBytes(): number {
    return this.#discarded;
  }

  /** Times the packet boundaries were lost after being found. */
  get syncLosses(): number {
    return this.#syncLosses;
  }

  /** Whole packets passed on so far. */
  get packets(): number {
    return this.#packets;
  }

  /** Whether the packet boundaries are known right now. */
  get locked(): boolean {
    return this.#locked;
  }

  /** Bytes held back for the next input: the start of a packet, or of a boundary yet to be confirmed. */
  get pendingBytes(): number {
    return this.#kept;
  }

  /**
   * Takes the next bytes of the stream; calls `emit` for each message of
   * {@link PACKETS_PER_MESSAGE} packets completed. Packets short of a full
   * message wait for more input or for {@link flush}. Never throws on any
   * bytes (only what `emit` throws).
   */
  push(chunk: Uint8Array, emit: EmitMessage): void {
    if (this.#isWholeMessage(chunk)) {
      this.#packets += chunk.length / TS_PACKET_SIZE;
      emit(chunk);
      return;
    }
    const length = this.#take(chunk);
    const work = this.#work;
    let position = 0;
    while (position < length) {
      if (this.#locked) {
        if (length - position < TS_PACKET_SIZE) break;
        const next = position + TS_PACKET_SIZE;
        // The next packet's sync byte, when it is here, vouches for this
        // packet's length. Without it, a packet cut short by a lost message
        // looks just like a whole one followed by stray bytes: both are
        // discarded, since a spliced packet would corrupt what players decode.
        if (work[position] === SYNC_BYTE && (next >= length || work[next] === SYNC_BYTE)) {
          this.#addPacket(work, position, emit);
          position = next;
          continue;
        }
        this.#locked = false;
        this.#syncLosses++;
      }
      const { start, confirmed } = hunt(work, position, length);
      this.#discarded += start - position;
      position = start;
      if (!confirmed) break;
      this.#locked = true;
    }
    work.copyWithin(0, position, length);
    this.#kept = length - position;
  }

  /** Emits the whole packets not yet emitted (fewer than a full message), if any. */
  flush(emit: EmitMessage): void {
    if (this.#grouped === 0) return;
    const packets = this.#group.subarray(0, this.#grouped * TS_PACKET_SIZE);
    this.#grouped = 0;
    emit(packets);
  }

  /** The common case: locked, nothing held back, and exactly whole packets with sync bytes. */
  #isWholeMessage(chunk: Uint8Array): boolean {
    const length = chunk.length;
    if (!this.#locked || this.#kept !== 0 || this.#grouped !== 0) return false;
    if (length === 0 || length > MESSAGE_BYTES || length % TS_PACKET_SIZE !== 0) return false;
    for (let offset = 0; offset < length; offset += TS_PACKET_SIZE) {
      if (chunk[offset] !== SYNC_BYTE) return false;
    }
    return true;
  }

  /** Appends `chunk` after the bytes kept; returns the bytes now in the work buffer. */
  #take(chunk: Uint8Array): number {
    const length = this.#kept + chunk.length;
    if (length > this.#work.length) {
      const grown = new Uint8Array(length);
      grown.set(this.#work.subarray(0, this.#kept));
      this.#work = grown;
    }
    this.#work.set(chunk, this.#kept);
    return length;
  }

  #addPacket(bytes: Uint8Array, offset: number, emit: EmitMessage): void {
    this.#group.set(
      bytes.subarray(offset, offset + TS_PACKET_SIZE),
      this.#grouped * TS_PACKET_SIZE,
    );
    this.#packets++;
    if (++this.#grouped === PACKETS_PER_MESSAGE) {
      this.#grouped = 0;
      emit(this.#group);
    }
  }
}

/**
 * The first packet boundary in `bytes[from..end)`: a sync byte followed by
 * {@link SYNC_CONFIRMATIONS} - 1 more, 188 bytes apart (`confirmed`), or the
 * first one whose followers have not arrived yet (not `confirmed`), or `end`
 * when there is neither.
 */
function hunt(bytes: Uint8Array, from: number, end: number): { start: number; confirmed: boolean } {
  for (let i = from; i < end; i++) {
    if (bytes[i] !== SYNC_BYTE) continue;
    let k = 1;
    for (; k < SYNC_CONFIRMATIONS; k++) {
      const j = i + k * TS_PACKET_SIZE;
      if (j >= end) return { start: i, confirmed: false };
      if (bytes[j] !== SYNC_BYTE) break;
    }
    if (k === SYNC_CONFIRMATIONS) return { start: i, confirmed: true };
  }
  return { start: end, confirmed: false };
}

/**
 * The one log line about a publisher's discarded bytes, once there is
 * something to say: it sends no MPEG-TS at all, or it lost packet sync in a
 * stream that had it. Undefined while nothing, or too little to judge, was
 * discarded.
 */
export function discardNotice(
  reassembler: Pick<TsReassembler, "discardedBytes" | "packets">,
): string | undefined {
  const { discardedBytes, packets } = reassembler;
  if (packets === 0 && discardedBytes >= NOT_TS_NOTICE_BYTES) {
    return `sends no MPEG-TS (no sync byte 0x47 every 188 bytes in ${discardedBytes} bytes): ` +
      "discarding what it sends, counted in the stream's bytesDiscarded";
  }
  if (packets > 0 && discardedBytes > 0) {
    return `lost MPEG-TS packet sync: discarded ${discardedBytes} bytes that were not whole ` +
      "packets; later discards are only counted, in the stream's bytesDiscarded";
  }
  return undefined;
}
