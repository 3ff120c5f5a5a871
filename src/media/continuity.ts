/**
 * Continuity counters across a viewer's splices.
 *
 * A viewer sends one publisher's packets as they came, but it also splices:
 * it starts with copies of the newest PAT and PMT, jumps ahead when lapped,
 * and goes on with a new publisher's packets after a takeover. At each such
 * seam the 4-bit continuity_counter of a PID would jump, which players count
 * as lost packets. {@link ContinuityKeeper} sits on the viewer's send path
 * and makes every PID it has sent before either continue its sequence or
 * carry discontinuity_indicator, and {@link findContinuityErrors} checks a
 * recorded stream for exactly that.
 *
 * What the keeper does depends on what a PID carries:
 *
 * - PSI (the PAT, the program's PMT, and the other table PIDs 0x00..0x1f):
 *   the keeper numbers the packets itself, always, continuing what it sent.
 *   Sections are whole tables protected by a CRC-32 and repeated all the
 *   time, so a receiver loses nothing by the renumbering (a section glued
 *   from pieces around a lost packet fails its CRC), and no byte is added.
 * - Anything else (video, audio, data): after a splice the first packet on
 *   the PID gets discontinuity_indicator, set in place when the packet has
 *   an adaptation field with a flags byte, else in a 188-byte packet of only
 *   an adaptation field inserted before it, numbered so the packet continues
 *   it. On the PCR PID that flag also announces the new time base. Payload
 *   packets before the PID's next unit start are dropped (they continue a
 *   PES the player never got the start of): after a discontinuity, 13818-1
 *   wants elementary stream data to start at an access point.
 *
 * Pure; it allocates only at a splice and for a message a splice changes.
 *
 * @module
 */

import {
  buildDiscontinuityPacket,
  isTransportStream,
  Pid,
  TS_PACKET_SIZE,
  TsInspector,
} from "./mpegts.ts";

const PID_COUNT = 0x2000;
/** PIDs below this carry tables: PAT, CAT, TSDT and the DVB/ARIB service information. */
const FIRST_NON_TABLE_PID = 0x20;
/** Payload packets dropped on one PID after a splice at most, waiting for its next unit start. */
const MAX_DROPPED_PACKETS = 4096;

/** Bits of a PID's state after a splice. */
const Pending = {
  /** Its next packet must carry discontinuity_indicator. */
  Flag: 1,
  /** Payload packets are dropped until one starts a unit (a PES or a section). */
  UnitStart: 2,
} as const;

/** A continuity_counter that neither continues its PID nor is excused. */
export interface ContinuityError {
  /** Index of the packet in the stream (0 for the first 188 bytes). */
  readonly packet: number;
  readonly pid: number;
  /** What the counter should have been. */
  readonly expected: number;
  readonly got: number;
}

/**
 * The continuity counter jumps in a transport stream (whole 188-byte packets):
 * per PID, a packet with payload must count on by one, a packet with only an
 * adaptation field must repeat the counter, and the only exceptions are the
 * first packet of a PID, a packet with discontinuity_indicator set, and one
 * duplicate (same counter, same payload) of a payload packet. The null PID
 * and packets flagged as transport errors are not checked.
 */
export function findContinuityErrors(stream: Uint8Array): ContinuityError[] {
  if (stream.length % TS_PACKET_SIZE !== 0) {
    throw new RangeError(
      `Cannot check continuity: ${stream.length} bytes is not whole ${TS_PACKET_SIZE}-byte packets`,
    );
  }
  const errors: ContinuityError[] = [];
  const last = new Int8Array(PID_COUNT).fill(-1);
  /** Offset of the last payload packet on each PID, for duplicates; -1 right after one. */
  const lastPayload = new Int32Array(PID_COUNT).fill(-1);
  for (let o = 0; o < stream.length; o += TS_PACKET_SIZE) {
    if (stream[o] !== 0x47) {
      throw new RangeError(`Cannot check continuity: no sync byte at offset ${o}`);
    }
    const b1 = stream[o + 1]!;
    const pid = ((b1 & 0x1f) << 8) | stream[o + 2]!;
    if (pid === Pid.NULL || (b1 & 0x80) !== 0) continue;
    const b3 = stream[o + 3]!;
    const hasPayload = (b3 & 0x10) !== 0;
    const counter = b3 & 0x0f;
    const previous = last[pid]!;
    last[pid] = counter;
    const payloadAt = payloadOffset(stream, o);
    if (previous < 0 || hasDiscontinuityIndicator(stream, o)) {
      lastPayload[pid] = hasPayload ? o : -1;
      continue;
    }
    if (!hasPayload) {
      if (counter !== previous) {
        errors.push({ packet: o / TS_PACKET_SIZE, pid, expected: previous, got: counter });
      }
      continue;
    }
    const expected = (previous + 1) & 0x0f;
    const before = lastPayload[pid]!;
    if (counter === expected) {
      lastPayload[pid] = o;
    } else if (counter === previous && before >= 0 && samePayload(stream, before, o, payloadAt)) {
      lastPayload[pid] = -1; // a second duplicate is an error
    } else {
      errors.push({ packet: o / TS_PACKET_SIZE, pid, expected, got: counter });
      lastPayload[pid] = o;
    }
  }
  return errors;
}

function hasDiscontinuityIndicator(m: Uint8Array, o: number): boolean {
  return (m[o + 3]! & 0x20) !== 0 && m[o + 4]! > 0 && (m[o + 5]! & 0x80) !== 0;
}

/** Where the payload of the packet at `o` starts (188 past it when it has none). */
function payloadOffset(m: Uint8Array, o: number): number {
  const b3 = m[o + 3]!;
  if ((b3 & 0x10) === 0) return o + TS_PACKET_SIZE;
  return (b3 & 0x20) === 0 ? o + 4 : Math.min(o + TS_PACKET_SIZE, o + 5 + m[o + 4]!);
}

function samePayload(m: Uint8Array, earlier: number, later: number, laterPayload: number): boolean {
  const earlierPayload = payloadOffset(m, earlier);
  if (laterPayload - later !== earlierPayload - earlier) return false;
  for (let i = laterPayload - later; i < TS_PACKET_SIZE; i++) {
    if (m[earlier + i] !== m[later + i]) return false;
  }
  return true;
}

/** What {@link ContinuityKeeper} does with one packet. */
const Action = { Keep: 0, Drop: 1, FlagBefore: 2 } as const;

/**
 * One viewer's continuity counters: every packet the viewer sends goes
 * through {@link pass}, and {@link splice} is called before each program
 * start (on joining, after a skip, after a takeover), before its PAT and PMT
 * go through {@link pass}.
 */
export class ContinuityKeeper {
  /** The counter last sent on each PID; -1 for none yet. */
  readonly #last = new Int8Array(PID_COUNT).fill(-1);
  /** `Pending` bits per PID. */
  readonly #pending = new Uint8Array(PID_COUNT);
  readonly #dropped = new Uint16Array(PID_COUNT);
  #pmtPid = -1;
  #inserted = 0;
  #droppedTotal = 0;

  /** Discontinuity packets inserted so far. */
  get inserted(): number {
    return this.#inserted;
  }

  /** Packets dropped so far while waiting for a PID's next unit start. */
  get dropped(): number {
    return this.#droppedTotal;
  }

  /**
   * The viewer goes on somewhere else: after this, the first packet of each
   * non-PSI PID already sent carries discontinuity_indicator. `programInfo`
   * is the PAT and PMT the viewer is about to send, which name the PMT PID.
   */
  splice(programInfo: Uint8Array | undefined): void {
    if (programInfo !== undefined) {
      const inspector = new TsInspector();
      inspector.inspect(programInfo);
      this.#pmtPid = inspector.program?.pmtPid ?? this.#pmtPid;
    }
    for (let pid = 0; pid < PID_COUNT; pid++) {
      if (this.#last[pid]! < 0 || this.#isTable(pid)) continue;
      this.#pending[pid] = Pending.Flag | Pending.UnitStart;
      this.#dropped[pid] = 0;
    }
  }

  /**
   * The packets to send for `packets` (whole 188-byte packets; anything else
   * is returned as it is): `packets` itself, changed in place, unless a
   * splice makes it drop or insert packets, when a new array is returned. The
   * result may be longer than one SRT message.
   */
  pass<T extends ArrayBufferLike>(packets: Uint8Array<T>): Uint8Array<T | ArrayBuffer> {
    if (!isTransportStream(packets)) return packets;
    let pieces: Uint8Array[] | undefined;
    let kept = 0; // start of the packets not yet in `pieces`
    for (let o = 0; o < packets.length; o += TS_PACKET_SIZE) {
      const action = this.#packet(packets, o);
      if (action === Action.Keep) continue;
      pieces ??= [];
      pieces.push(packets.subarray(kept, o));
      if (action === Action.FlagBefore) {
        const pid = ((packets[o + 1]! & 0x1f) << 8) | packets[o + 2]!;
        pieces.push(buildDiscontinuityPacket(pid, (packets[o + 3]! - 1) & 0x0f));
        this.#inserted++;
        kept = o;
      } else {
        kept = o + TS_PACKET_SIZE;
      }
    }
    if (pieces === undefined) return packets;
    pieces.push(packets.subarray(kept));
    const out = new Uint8Array(pieces.reduce((sum, piece) => sum + piece.length, 0));
    let at = 0;
    for (const piece of pieces) {
      out.set(piece, at);
      at += piece.length;
    }
    return out;
  }

  #isTable(pid: number): boolean {
    return pid < FIRST_NON_TABLE_PID || pid === this.#pmtPid;
  }

  #packet(m: Uint8Array, o: number): number {
    const b1 = m[o + 1]!;
    const pid = ((b1 & 0x1f) << 8) | m[o + 2]!;
    if (pid === Pid.NULL) return Action.Keep;
    const b3 = m[o + 3]!;
    const hasPayload = (b3 & 0x10) !== 0;
    const counter = b3 & 0x0f;
    const last = this.#last[pid]!;
    if (this.#isTable(pid)) {
      if (last >= 0) {
        const next = hasPayload ? (last + 1) & 0x0f : last;
        m[o + 3] = (b3 & 0xf0) | next;
        this.#last[pid] = next;
      } else {
        this.#last[pid] = counter;
      }
      return Action.Keep;
    }
    let action: number = Action.Keep;
    let pending = this.#pending[pid]!;
    if (pending !== 0) {
      const unitStart = hasPayload && (b1 & 0x40) !== 0;
      if (
        (pending & Pending.UnitStart) !== 0 && hasPayload && !unitStart &&
        this.#dropped[pid]! < MAX_DROPPED_PACKETS
      ) {
        this.#dropped[pid] = this.#dropped[pid]! + 1;
        this.#droppedTotal++;
        // The packets dropped leave a gap after whatever was flagged before.
        this.#pending[pid] = pending | Pending.Flag;
        return Action.Drop;
      }
      if (hasPayload) pending &= ~Pending.UnitStart;
      if ((pending & Pending.Flag) !== 0) {
        if ((b3 & 0x20) !== 0 && m[o + 4]! > 0) {
          m[o + 5] = m[o + 5]! | 0x80;
        } else if (hasPayload) {
          action = Action.FlagBefore;
        }
        pending &= ~Pending.Flag;
      }
      this.#pending[pid] = pending;
    }
    this.#last[pid] = counter;
    return action;
  }
}
