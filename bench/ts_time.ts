/**
 * The presentation times of an MPEG-TS stream, for the HTTP bench
 * (bench/http.ts): where each PES starts and its PTS, and a rewrite of
 * every PTS, DTS and PCR by an offset, so that bench/sender.ts can loop a
 * file on one continuous timeline.
 *
 * Why PTS: HLS segmenters (Atoll's and ffmpeg's) drop null packets, so the
 * sender's stamps (bench/sender.ts) never reach an HLS player. The PTS of
 * each video frame does, unchanged (Atoll copies packets; ffmpeg with
 * `-copyts` and `mpegts_copyts=1` keeps them), so the sender logs when it
 * sent each frame's PTS and a reader maps the PTS it receives back to that
 * time. Pure: no `Deno.*`.
 *
 * @module
 */

export const TS_PACKET_BYTES = 188;
/** 2^33: PTS, DTS and PCR base wrap there. */
const WRAP = 2 ** 33;

/** The PID of the TS packet at `offset`. */
export function pidAt(bytes: Uint8Array, offset: number): number {
  return ((bytes[offset + 1]! & 0x1f) << 8) | bytes[offset + 2]!;
}

/** Where the payload of the TS packet at `offset` starts; -1 without one. */
function payloadStart(bytes: Uint8Array, offset: number): number {
  const control = (bytes[offset + 3]! >> 4) & 0x3;
  if ((control & 0x1) === 0) return -1;
  const start = (control & 0x2) !== 0 ? offset + 5 + bytes[offset + 4]! : offset + 4;
  return start < offset + TS_PACKET_BYTES ? start : -1;
}

function readTimestamp(bytes: Uint8Array, at: number): number {
  return ((bytes[at]! >> 1) & 0x7) * 2 ** 30 + (bytes[at + 1]! << 22) +
    ((bytes[at + 2]! >> 1) << 15) + (bytes[at + 3]! << 7) + (bytes[at + 4]! >> 1);
}

function writeTimestamp(bytes: Uint8Array, at: number, value: number): void {
  const v = ((value % WRAP) + WRAP) % WRAP;
  const high = Math.floor(v / 2 ** 30);
  const low = v % 2 ** 30;
  bytes[at] = (bytes[at]! & 0xf0) | (high << 1) | 1;
  bytes[at + 1] = (low >> 22) & 0xff;
  bytes[at + 2] = (((low >> 15) & 0x7f) << 1) | 1;
  bytes[at + 3] = (low >> 7) & 0xff;
  bytes[at + 4] = ((low & 0x7f) << 1) | 1;
}

/** A PES start in a TS packet: its stream id and PTS (90 kHz), if it has one. */
export interface PesStart {
  streamId: number;
  pts: number | undefined;
  /** Where the PTS's 5 bytes are, and the DTS's (-1: none). */
  ptsAt: number;
  dtsAt: number;
}

/** The PES start in the TS packet at `offset`, if it begins one. */
export function pesStartAt(bytes: Uint8Array, offset: number): PesStart | undefined {
  if (bytes[offset] !== 0x47 || (bytes[offset + 1]! & 0x40) === 0) return undefined;
  const start = payloadStart(bytes, offset);
  if (start < 0 || start + 14 > offset + TS_PACKET_BYTES) return undefined;
  if (bytes[start] !== 0 || bytes[start + 1] !== 0 || bytes[start + 2] !== 1) return undefined;
  const streamId = bytes[start + 3]!;
  // Stream ids without the optional header (padding, private 2, ECM...) carry no PTS.
  if (streamId < 0xc0 || streamId > 0xef) {
    return { streamId, pts: undefined, ptsAt: -1, dtsAt: -1 };
  }
  const flags = bytes[start + 7]! >> 6;
  if ((flags & 0x2) === 0) return { streamId, pts: undefined, ptsAt: -1, dtsAt: -1 };
  const ptsAt = start + 9;
  return {
    streamId,
    pts: readTimestamp(bytes, ptsAt),
    ptsAt,
    dtsAt: flags === 3 ? start + 14 : -1,
  };
}

/** True for a video PES stream id (0xE0-0xEF). */
export function isVideoStreamId(streamId: number): boolean {
  return streamId >= 0xe0 && streamId <= 0xef;
}

/**
 * Adds `offset` (90 kHz) to every PTS, DTS and PCR of the whole TS packets
 * in `bytes`, in place.
 */
export function shiftTimestamps(bytes: Uint8Array, offset: number): void {
  for (let at = 0; at + TS_PACKET_BYTES <= bytes.byteLength; at += TS_PACKET_BYTES) {
    if (bytes[at] !== 0x47) continue;
    const control = (bytes[at + 3]! >> 4) & 0x3;
    if ((control & 0x2) !== 0 && bytes[at + 4]! >= 7 && (bytes[at + 5]! & 0x10) !== 0) {
      const p = at + 6;
      const base = bytes[p]! * 2 ** 25 + (bytes[p + 1]! << 17) + (bytes[p + 2]! << 9) +
        (bytes[p + 3]! << 1) + (bytes[p + 4]! >> 7);
      const v = (base + offset) % WRAP;
      bytes[p] = Math.floor(v / 2 ** 25) & 0xff;
      bytes[p + 1] = Math.floor(v / 2 ** 17) & 0xff;
      bytes[p + 2] = Math.floor(v / 2 ** 9) & 0xff;
      bytes[p + 3] = Math.floor(v / 2) & 0xff;
      bytes[p + 4] = (bytes[p + 4]! & 0x7f) | ((v & 1) << 7);
    }
    const pes = pesStartAt(bytes, at);
    if (pes === undefined || pes.pts === undefined) continue;
    writeTimestamp(bytes, pes.ptsAt, pes.pts + offset);
    if (pes.dtsAt >= 0) writeTimestamp(bytes, pes.dtsAt, readTimestamp(bytes, pes.dtsAt) + offset);
  }
}

/**
 * Finds video PES starts in a byte stream that arrives in chunks of any
 * size (HTTP bodies): `push` returns the PTS of each one whose packet
 * completed in that chunk.
 */
export class VideoPtsScanner {
  #rest = new Uint8Array(0);

  push(chunk: Uint8Array): number[] {
    let bytes = chunk;
    if (this.#rest.byteLength > 0) {
      bytes = new Uint8Array(this.#rest.byteLength + chunk.byteLength);
      bytes.set(this.#rest);
      bytes.set(chunk, this.#rest.byteLength);
    }
    const found: number[] = [];
    let at = 0;
    for (; at + TS_PACKET_BYTES <= bytes.byteLength; at += TS_PACKET_BYTES) {
      if (bytes[at] !== 0x47) {
        // Lost sync (never expected over HTTP): look for the next sync byte.
        const next = bytes.indexOf(0x47, at + 1);
        if (next < 0) {
          at = bytes.byteLength;
          break;
        }
        at = next - TS_PACKET_BYTES;
        continue;
      }
      const pes = pesStartAt(bytes, at);
      if (pes?.pts !== undefined && isVideoStreamId(pes.streamId)) found.push(pes.pts);
    }
    this.#rest = bytes.slice(at);
    return found;
  }
}

/** The duration of a looped file on its video PID: frames × the median DTS/PTS step (90 kHz). */
export function loopDuration(bytes: Uint8Array): number {
  const pts: number[] = [];
  for (let at = 0; at + TS_PACKET_BYTES <= bytes.byteLength; at += TS_PACKET_BYTES) {
    const pes = pesStartAt(bytes, at);
    if (pes?.pts !== undefined && isVideoStreamId(pes.streamId)) pts.push(pes.pts);
  }
  if (pts.length < 2) throw new RangeError("Cannot loop the stream: fewer than two video frames");
  const sorted = [...pts].sort((a, b) => a - b);
  const steps = sorted.slice(1).map((value, n) => value - sorted[n]!).sort((a, b) => a - b);
  return pts.length * steps[Math.floor(steps.length / 2)]!;
}
