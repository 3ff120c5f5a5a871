/**
 * Parameter sets (H.264 SPS and PPS, HEVC VPS, SPS and PPS) for viewers who
 * join after the encoder last sent them.
 *
 * Some encoders send parameter sets once, at the start. A viewer that joins
 * later at a key frame whose access unit lacks them cannot decode anything.
 * The publisher's child keeps the newest complete set of the program's video
 * stream ({@link ParameterSetCollector}, stored in the stream buffer's
 * header); a joining viewer checks its first key frame
 * ({@link findJoinAccessUnit}) and, when that access unit lacks them, sends a
 * PES of just the parameter sets on the video PID right before it
 * ({@link buildParameterSetPes}, {@link withParameterSets}), with the key
 * frame's PTS and DTS.
 *
 * Why a PES of its own rather than NAL units spliced into the key frame's
 * PES: it needs no repacketization of the key frame, and the demuxers of
 * ffmpeg and VLC parse H.264 and HEVC elementary streams by start codes, not
 * PES boundaries, so parameter sets followed by the key frame's access unit
 * delimiter and slices reach the decoder as one access unit; decoders
 * activate parameter sets by id whenever they arrive before the slices that
 * refer to them.
 *
 * Annex B byte streams: NAL units follow a 3- or 4-byte start code; the NAL
 * unit type is the low 5 bits of the header byte (H.264) or bits 1..6 of the
 * first of two (HEVC). Pure: no `Deno.*`.
 *
 * @module
 */

import { TS_PACKET_SIZE } from "./mpegts.ts";

/** Video codecs whose parameter sets are kept. */
export const VideoCodec = { H264: 1, Hevc: 2 } as const;
export type VideoCodec = typeof VideoCodec[keyof typeof VideoCodec];

/** Whether `value` (read from shared memory, say) is a {@link VideoCodec}. */
export function isVideoCodec(value: number): value is VideoCodec {
  return value === VideoCodec.H264 || value === VideoCodec.Hevc;
}

/** Bytes of a key frame's access unit searched for parameter sets before its first slice. */
export const PARAMETER_SET_SCAN_LIMIT = 8192;

/** What {@link extractParameterSets} found at the start of an access unit. */
export interface ParameterSetScan {
  /** The parameter-set NAL units before the first slice, each after a 4-byte start code. */
  readonly parameterSets: Uint8Array;
  /** Whether every kind the codec needs (SPS and PPS; for HEVC also VPS) is among them. */
  readonly complete: boolean;
  /** Whether a slice (VCL NAL unit) was reached. */
  readonly sliceFound: boolean;
}

const START_CODE = [0, 0, 0, 1] as const;

/** Bit of a parameter-set NAL type in a kinds mask, 0 for other types. */
function parameterSetBit(header: number, codec: VideoCodec): number {
  if (codec === VideoCodec.H264) {
    const type = header & 0x1f;
    return type === 7 ? 1 : type === 8 ? 2 : 0;
  }
  const type = (header >> 1) & 0x3f;
  return type === 32 ? 4 : type === 33 ? 1 : type === 34 ? 2 : 0;
}

function isSlice(header: number, codec: VideoCodec): boolean {
  if (codec === VideoCodec.H264) {
    const type = header & 0x1f;
    return type >= 1 && type <= 5;
  }
  return ((header >> 1) & 0x3f) <= 31;
}

function requiredKinds(codec: VideoCodec): number {
  return codec === VideoCodec.H264 ? 3 : 7;
}

/** Offset of the first byte after the next start code at or after `from`, or -1. */
function nextNalStart(es: Uint8Array, from: number): number {
  for (let i = from; i + 2 < es.length; i++) {
    if (es[i + 2]! > 1) {
      i += 2; // no start code can end at i + 2
    } else if (es[i] === 0 && es[i + 1] === 0 && es[i + 2] === 1) {
      return i + 3;
    }
  }
  return -1;
}

/**
 * The parameter sets at the start of an access unit's elementary stream
 * bytes (Annex B), up to its first slice. A NAL unit cut off by the end of
 * `es` is not taken. Never throws, whatever the bytes.
 */
export function extractParameterSets(es: Uint8Array, codec: VideoCodec): ParameterSetScan {
  const units: Uint8Array[] = [];
  let kinds = 0;
  let sliceFound = false;
  let start = nextNalStart(es, 0);
  while (start >= 0 && start < es.length) {
    const header = es[start]!;
    if ((header & 0x80) === 0 && isSlice(header, codec)) {
      sliceFound = true;
      break;
    }
    const next = nextNalStart(es, start + 1);
    if (next < 0) break; // cut off: its end is unknown
    let end = next - 3;
    while (end > start && es[end - 1] === 0) end--; // a 4-byte start code's zero, trailing zeros
    const bit = (header & 0x80) === 0 ? parameterSetBit(header, codec) : 0;
    if (bit !== 0) {
      kinds |= bit;
      units.push(es.subarray(start, end));
    }
    start = next;
  }
  const parameterSets = new Uint8Array(units.reduce((sum, unit) => sum + 4 + unit.length, 0));
  let at = 0;
  for (const unit of units) {
    parameterSets.set(START_CODE, at);
    parameterSets.set(unit, at + 4);
    at += 4 + unit.length;
  }
  const required = requiredKinds(codec);
  return { parameterSets, complete: (kinds & required) === required, sliceFound };
}

/** Offset of a packet's payload, or -1 when it has none. */
function payloadStart(m: Uint8Array, o: number): number {
  const b3 = m[o + 3]!;
  if ((b3 & 0x10) === 0) return -1;
  if ((b3 & 0x20) === 0) return o + 4;
  const start = o + 5 + m[o + 4]!;
  return start < o + TS_PACKET_SIZE ? start : -1;
}

function packetPid(m: Uint8Array, o: number): number {
  return ((m[o + 1]! & 0x1f) << 8) | m[o + 2]!;
}

/** Where the elementary stream starts in a PES that begins at `p` (before `end`), or -1. */
function pesDataStart(m: Uint8Array, p: number, end: number): number {
  if (p + 9 > end || m[p] !== 0 || m[p + 1] !== 0 || m[p + 2] !== 1) return -1;
  if ((m[p + 6]! & 0xc0) !== 0x80) return -1;
  const start = p + 9 + m[p + 8]!;
  return start <= end ? start : -1;
}

/**
 * Follows the video PID of a publisher's stream and returns the parameter
 * sets of each access unit that carries a complete set different from the
 * last one returned. Copies at most {@link PARAMETER_SET_SCAN_LIMIT} bytes of
 * an access unit, stopping at its first slice.
 */
export class ParameterSetCollector {
  readonly #es = new Uint8Array(PARAMETER_SET_SCAN_LIMIT);
  #length = 0;
  #collecting = false;
  #pid = -1;
  #codec: VideoCodec = VideoCodec.H264;
  #last: Uint8Array | undefined;

  /**
   * Feeds one message of whole TS packets; `pid` and `codec` name the video
   * stream. Returns new parameter sets, or undefined. Never throws.
   */
  feed(message: Uint8Array, video: { pid: number; codec: VideoCodec }): Uint8Array | undefined {
    if (video.pid !== this.#pid || video.codec !== this.#codec) {
      this.#pid = video.pid;
      this.#codec = video.codec;
      this.#collecting = false;
      this.#last = undefined;
    }
    let found: Uint8Array | undefined;
    for (let o = 0; o + TS_PACKET_SIZE <= message.length; o += TS_PACKET_SIZE) {
      if (message[o] !== 0x47 || packetPid(message, o) !== this.#pid) continue;
      const payload = payloadStart(message, o);
      if (payload < 0) continue;
      const end = o + TS_PACKET_SIZE;
      if ((message[o + 1]! & 0x40) !== 0) {
        found = this.#finish() ?? found;
        const data = pesDataStart(message, payload, end);
        if (data < 0) continue;
        this.#collecting = true;
        this.#length = 0;
        this.#append(message, data, end);
      } else if (this.#collecting) {
        this.#append(message, payload, end);
      } else continue;
      if (this.#collecting) {
        const scan = extractParameterSets(this.#es.subarray(0, this.#length), this.#codec);
        if (scan.sliceFound || this.#length === this.#es.length) {
          this.#collecting = false;
          found = this.#accept(scan) ?? found;
        }
      }
    }
    return found;
  }

  #append(m: Uint8Array, start: number, end: number): void {
    const n = Math.min(end - start, this.#es.length - this.#length);
    this.#es.set(m.subarray(start, start + n), this.#length);
    this.#length += n;
  }

  /** The access unit ended before its first slice was seen. */
  #finish(): Uint8Array | undefined {
    if (!this.#collecting) return undefined;
    this.#collecting = false;
    return this.#accept(extractParameterSets(this.#es.subarray(0, this.#length), this.#codec));
  }

  #accept(scan: ParameterSetScan): Uint8Array | undefined {
    if (!scan.complete || sameBytes(scan.parameterSets, this.#last)) return undefined;
    this.#last = scan.parameterSets;
    return scan.parameterSets;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array | undefined): boolean {
  if (b === undefined || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A key frame's PES start in a viewer's first message, from {@link findJoinAccessUnit}. */
export interface JoinAccessUnit {
  /** Offset in the message of the packet where the key frame's PES starts. */
  readonly packetOffset: number;
  readonly streamId: number;
  /** The PES header's PTS_DTS_flags (0b10 or 0b11) and the 5 or 10 bytes of PTS and DTS. */
  readonly ptsDtsFlags: number;
  readonly timestamps: Uint8Array;
  /** The continuity_counter of that packet. */
  readonly continuityCounter: number;
  /** Whether the access unit carries its own complete parameter sets before its first slice. */
  readonly hasParameterSets: boolean;
}

/**
 * Finds the first PES start on `pid` in `message` (whole TS packets) and
 * says whether its access unit, as far as the message holds it, carries
 * complete parameter sets before its first slice. Undefined when no PES with
 * a PTS starts on `pid` in the message.
 */
export function findJoinAccessUnit(
  message: Uint8Array,
  video: { pid: number; codec: VideoCodec },
): JoinAccessUnit | undefined {
  let join: Omit<JoinAccessUnit, "hasParameterSets"> | undefined;
  const es = new Uint8Array(Math.min(message.length, PARAMETER_SET_SCAN_LIMIT));
  let length = 0;
  for (let o = 0; o + TS_PACKET_SIZE <= message.length; o += TS_PACKET_SIZE) {
    if (message[o] !== 0x47 || packetPid(message, o) !== video.pid) continue;
    const payload = payloadStart(message, o);
    if (payload < 0) continue;
    const end = o + TS_PACKET_SIZE;
    let from = payload;
    if ((message[o + 1]! & 0x40) !== 0) {
      if (join !== undefined) break; // the next access unit
      const data = pesDataStart(message, payload, end);
      const ptsDtsFlags = message[payload + 7]! >> 6;
      const timestampBytes = ptsDtsFlags === 3 ? 10 : 5;
      if (data < 0 || ptsDtsFlags < 2 || message[payload + 8]! < timestampBytes) continue;
      join = {
        packetOffset: o,
        streamId: message[payload + 3]!,
        ptsDtsFlags,
        timestamps: message.slice(payload + 9, payload + 9 + timestampBytes),
        continuityCounter: message[o + 3]! & 0x0f,
      };
      from = data;
    } else if (join === undefined) continue;
    const n = Math.min(end - from, es.length - length);
    es.set(message.subarray(from, from + n), length);
    length += n;
  }
  if (join === undefined) return undefined;
  const scan = extractParameterSets(es.subarray(0, length), video.codec);
  return { ...join, hasParameterSets: scan.complete };
}

/**
 * TS packets on `pid` carrying one PES of just `parameterSets` (Annex B),
 * with the given stream_id and timestamps (those of the key frame it goes
 * before), numbered so that a packet with `continuityCounter` continues
 * them. The first packet carries discontinuity_indicator, since whatever
 * the viewer sent on the PID before does not continue into it.
 */
export function buildParameterSetPes(
  parameterSets: Uint8Array,
  options: Pick<JoinAccessUnit, "streamId" | "ptsDtsFlags" | "timestamps" | "continuityCounter"> & {
    pid: number;
  },
): Uint8Array {
  const { pid, streamId, ptsDtsFlags, timestamps, continuityCounter } = options;
  if (!Number.isInteger(pid) || pid < 0 || pid > 0x1ffe) {
    throw new RangeError(`Cannot build a parameter-set PES: PID ${pid} is not in 0..8190`);
  }
  if (timestamps.length !== (ptsDtsFlags === 3 ? 10 : 5) || ptsDtsFlags < 2) {
    throw new RangeError(
      `Cannot build a parameter-set PES: ${timestamps.length} timestamp bytes for PTS_DTS_flags ${ptsDtsFlags}`,
    );
  }
  const pesLength = 3 + timestamps.length + parameterSets.length;
  if (pesLength > 0xffff) {
    throw new RangeError(
      `Cannot build a parameter-set PES: ${parameterSets.length} bytes is too long`,
    );
  }
  const pes = new Uint8Array(6 + pesLength);
  pes.set([0, 0, 1, streamId, pesLength >> 8, pesLength & 0xff, 0x84, ptsDtsFlags << 6]);
  pes[8] = timestamps.length;
  pes.set(timestamps, 9);
  pes.set(parameterSets, 9 + timestamps.length);

  const payloadRoom = TS_PACKET_SIZE - 4;
  // The first packet has at least an adaptation field length and flags byte.
  const count = Math.ceil((pes.length + 2) / payloadRoom);
  const out = new Uint8Array(count * TS_PACKET_SIZE);
  let taken = 0;
  for (let i = 0; i < count; i++) {
    const o = i * TS_PACKET_SIZE;
    const minimumField = i === 0 ? 2 : 0;
    const take = Math.min(pes.length - taken, payloadRoom - minimumField);
    const field = payloadRoom - take; // adaptation field bytes, its length byte included
    out[o] = 0x47;
    out[o + 1] = (i === 0 ? 0x40 : 0) | (pid >> 8);
    out[o + 2] = pid & 0xff;
    out[o + 3] = (field > 0 ? 0x30 : 0x10) | ((continuityCounter - count + i) & 0x0f);
    if (field > 0) {
      out[o + 4] = field - 1;
      if (field > 1) {
        out[o + 5] = i === 0 ? 0x80 : 0; // discontinuity_indicator
        out.fill(0xff, o + 6, o + 4 + field);
      }
    }
    out.set(pes.subarray(taken, taken + take), o + 4 + field);
    taken += take;
  }
  return out;
}

/**
 * `packets`, the message where a viewer starts at a key frame, with
 * `stored` parameter sets (from the stream buffer) in a PES of their own
 * right before the key frame's PES when its access unit lacks them; else
 * `packets` itself. `stored.codec` and `stored.pid` come from shared memory
 * and are checked.
 */
export function withParameterSets<T extends ArrayBufferLike>(
  packets: Uint8Array<T>,
  stored: { pid: number; codec: number; bytes: Uint8Array } | undefined,
): Uint8Array<T | ArrayBuffer> {
  if (stored === undefined || !isVideoCodec(stored.codec) || stored.pid >= 0x1fff) return packets;
  const join = findJoinAccessUnit(packets, { pid: stored.pid, codec: stored.codec });
  if (join === undefined || join.hasParameterSets) return packets;
  const inserted = buildParameterSetPes(stored.bytes, { ...join, pid: stored.pid });
  const out = new Uint8Array(packets.length + inserted.length);
  out.set(packets.subarray(0, join.packetOffset));
  out.set(inserted, join.packetOffset);
  out.set(packets.subarray(join.packetOffset), join.packetOffset + inserted.length);
  return out;
}
