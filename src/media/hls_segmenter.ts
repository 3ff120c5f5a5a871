/**
 * HLS segments of one live stream: {@link HlsSegmenter} takes the stream's
 * MPEG-TS as a viewer would receive it and cuts it into segments kept in
 * memory, a bounded window of which a media playlist lists
 * (`hls_playlist.ts`).
 *
 * The rules:
 *
 * - Segments are cut at key frames (in a program without video: at the
 *   start of each PES of its first audio stream), found in the stream's own
 *   bytes by the same {@link TsInspector} the publisher's child uses, fed
 *   packet by packet, so a cut falls right before the first packet of the
 *   key frame's PES whatever the message boundaries.
 * - A segment is cut at the first key frame at which it has lasted the
 *   target duration (default 2 s). Time is the PES headers' PTS and DTS on
 *   the program's lead PID (its first video stream, else its first audio
 *   stream: `TsInspector.leadPid`), 33-bit wrap included. A segment ended by
 *   a key frame lasts from its first key frame's PTS to that one's, exactly.
 *   A segment ended otherwise (the stream's end, a new publisher, a new time
 *   base) lasts from its start to its latest PTS plus one frame, the frame
 *   being the mean DTS step of its PES starts (or that of the latest segment
 *   that had two): exact for a constant frame rate. Around a cut forced by
 *   the byte cap, where B-frames straddle the cut, a segment lasts one frame
 *   per PES start it holds, and the next one's time goes on from there, so
 *   the durations still add up to the stream's.
 * - Every segment starts with the newest PAT and PMT, copied in front of
 *   it, then the key frame's PES. When an H.264 or HEVC key frame lacks its
 *   parameter sets, the newest ones seen go right before it in a PES of their
 *   own (`withParameterSets`, as for a joining viewer), so each segment
 *   decodes on its own from its first frame. Null packets are left out.
 * - A new publisher ({@link HlsPushOptions.newPublisher}) ends the segment
 *   being made; the next one starts at the new publisher's first key frame
 *   and carries `discontinuity`. So does a DTS step of more than 10 s on the
 *   lead PID, or a key frame that shows before the segment's first one (an
 *   encoder restarted within one connection). Nothing before a stream's
 *   first key frame is kept.
 * - Memory is bounded. A segment that reaches
 *   {@link HlsSegmenterOptions.maxSegmentBytes} (default: the target duration
 *   at 40 Mbit/s, 10 MB for 2 s) is cut at its next key frame whatever its
 *   duration; at twice that, at its next PES start on the lead PID, mid-GOP;
 *   at three times, at once. The segment after such a forced cut does not
 *   start with a key frame (`independent: false`) and ends at the next one.
 *   The playlist lists at least `windowSize` segments (default 6) and, as
 *   RFC 8216 6.2.2 asks of a live playlist, keeps older ones while the
 *   others last less than three target durations, up to twice
 *   `windowSize`. A segment that leaves the playlist stays fetchable
 *   ({@link HlsSegmenter.segment}) while `windowSize` more leave after it,
 *   for players that loaded an older playlist (6.2.2 again).
 * - Low-latency HLS ({@link HlsSegmenterOptions.partTargetMs}): the
 *   segment being made is cut into parts (partial segments,
 *   draft-pantos-hls-rfc8216bis 4.4.4.9) at PES starts on the lead PID, each
 *   as long as it can be without passing the part target (counted in DTS,
 *   the next access unit's length taken as the step before it), so a
 *   player can fetch the newest media before its segment is finished. A
 *   segment's last part ends where the segment does, and lasts what the
 *   segment's duration leaves, so a segment's parts add up to it; its parts
 *   put end to end are its bytes (the first one carries the PAT, the PMT and
 *   the parameter sets in front of the key frame). The playlist lists the
 *   parts of the newest segments that cover three target durations; a
 *   finished segment's parts are views of its bytes, fetchable as long as
 *   it is.
 * - Program date-time: when pushes say when their packets came
 *   ({@link HlsPushOptions.receivedAtMs}), each segment gets the wall-clock
 *   time of its start: the one before's plus its duration, unless that fell
 *   more than a second behind when its key frame came, or after a
 *   discontinuity: then when its key frame came. Dates never go back
 *   within a timeline.
 *
 * What it expects: the stream in order as whole 188-byte packets starting
 * with a PAT and a PMT (as a viewer's stream starts), in pushes of any
 * size. Pure: no `Deno.*`, no clock; a caller that waits for segments
 * (blocking playlist reloads) watches {@link HlsSegmenter.nextSequence}.
 *
 * @module
 */

import {
  type MediaPlaylist,
  type PlaylistPart,
  type PlaylistSegment,
  roundedSeconds,
} from "./hls_playlist.ts";
import {
  isTransportStream,
  MessageFlags,
  Pid,
  StreamType,
  TS_PACKET_SIZE,
  TsInspector,
} from "./mpegts.ts";
import { ParameterSetCollector, VideoCodec, withParameterSets } from "./parameter_sets.ts";

/** Segments' target duration unless configured. */
export const DEFAULT_TARGET_DURATION_MS = 2000;
/** Segments listed in the playlist at least, unless configured. */
export const DEFAULT_WINDOW_SIZE = 6;
/** The bitrate the default byte cap allows for one target duration. */
export const DEFAULT_MAX_BITRATE_BPS = 40_000_000;

/** PTS and DTS count 90 000 ticks a second, in 33 bits. */
const TICKS_PER_MS = 90;
const TIMESTAMP_MODULO = 2 ** 33;
/** A DTS step on the lead PID beyond which the time base is taken to have changed. */
const MAX_DTS_STEP = 10_000 * TICKS_PER_MS;
/** A program date-time chained from the segment before may fall this far behind the wall clock. */
const MAX_DATE_DRIFT_MS = 1000;
/** A part this much over the part target still reads as it, written with 3 decimals. */
const PART_ROUNDING_TICKS = 44;
/** What the segment buffer starts with; it grows by doubling up to three times the byte cap. */
const INITIAL_BUFFER_BYTES = 256 * 1024;

export interface HlsSegmenterOptions {
  /** The least duration of a segment cut at a key frame, in ms (default 2000). */
  targetDurationMs?: number;
  /** Segments the playlist lists at least (default 6). */
  windowSize?: number;
  /**
   * Bytes after which a segment is cut at its next key frame whatever its
   * duration; at twice this, at its next PES start on the lead PID; at
   * three times, at once. Default: the target duration at
   * {@link DEFAULT_MAX_BITRATE_BPS}.
   */
  maxSegmentBytes?: number;
  /** The first segment's sequence number (default 0), to go on from an earlier segmenter's. */
  firstSequence?: number;
  /**
   * Cut each segment into parts of at most this many ms for low-latency
   * HLS (default 0: none). At most half the target duration.
   */
  partTargetMs?: number;
}

/** What comes with a {@link HlsSegmenter.push}. */
export interface HlsPushOptions {
  /**
   * The packets are the first of a new publisher (a takeover): another time
   * base, perhaps another program. The segment being made ends before them,
   * and the next starts at a key frame after a discontinuity. Pass it too
   * where the packets do not follow the ones before for another reason (a
   * reader lapped by the writer that skipped ahead).
   */
  newPublisher?: boolean;
  /** When the packets came, in wall-clock ms: segments then get a program date-time. */
  receivedAtMs?: number | undefined;
}

/** One part of a segment (low-latency HLS). Never changes; its bytes are not to be written to. */
export interface HlsPart extends PlaylistPart {
  /** Whole 188-byte packets; the first part of a segment starts as the segment does. */
  readonly bytes: Uint8Array;
}

/** One finished segment. Never changes; its bytes are shared, not to be written to. */
export interface HlsSegment extends PlaylistSegment {
  /** Whole 188-byte packets: the PAT, the PMT, then the stream from a key frame on. */
  readonly bytes: Uint8Array;
  /** Whether it starts with a key frame: false only after a cut forced by the byte cap. */
  readonly independent: boolean;
}

type ParameterSets = { pid: number; codec: VideoCodec; bytes: Uint8Array };

/** The segment being made. */
interface OpenSegment {
  /** The PAT and PMT that go in front of it. */
  readonly programInfo: Uint8Array;
  /** The video's parameter sets when it started at a key frame, in case that lacks them. */
  readonly parameterSets: ParameterSets | undefined;
  readonly discontinuity: boolean;
  readonly independent: boolean;
  readonly programDateTimeMs: number | undefined;
  /**
   * Its parts so far; the next starts at `partOffset` in the buffer, at DTS
   * `partDts` (NaN: not known yet).
   */
  readonly parts: HlsPart[];
  partOffset: number;
  partDts: number;
  /** The DTS of the lead PID's latest access unit in it, for the step to the next one. */
  unitDts: number;
  /**
   * PTS where it starts: its key frame's; after a forced cut, where the
   * segment before ended; else its first lead PES's. NaN until known.
   */
  startPts: number;
  /**
   * Of its lead PES counted so far (all but the current access unit): the
   * largest PTS distance from `startPts`, their first and latest DTS (or
   * PTS), and how many have one.
   */
  maxOffset: number;
  firstDts: number;
  lastDts: number;
  pesCount: number;
}

const NO_SEGMENTS: readonly HlsSegment[] = Object.freeze([]);
const NO_PARTS: readonly HlsPart[] = Object.freeze([]);

/**
 * Cuts one stream into HLS segments. Feed it with {@link push}, call
 * {@link end} when the stream ends, render {@link playlist} with
 * `renderMediaPlaylist`, and serve {@link segment}s by sequence number.
 */
export class HlsSegmenter {
  readonly #targetTicks: number;
  readonly #windowSize: number;
  readonly #maxBytes: number;
  readonly #firstSequence: number;
  readonly #partTicks: number;

  readonly #inspector = new TsInspector();
  readonly #collector = new ParameterSetCollector();
  #programInfoVersion = 0;
  #programInfo: Uint8Array | undefined;
  #leadPid: number | undefined;
  #video: { pid: number; codec: VideoCodec } | undefined;
  #parameterSets: ParameterSets | undefined;

  /**
   * The open segment's packets (its PAT and PMT go in front when it is
   * finished); while waiting for a key frame, the lead PID's current access
   * unit and what came after its start.
   */
  #buffer = new Uint8Array(INITIAL_BUFFER_BYTES);
  #length = 0;
  /** Undefined while waiting for a key frame to start a segment at. */
  #open: OpenSegment | undefined;
  /** Where in the buffer the lead PID's current access unit starts; -1 when not there. */
  #unitOffset = -1;
  /** Its PTS and DTS (the PTS when it has no DTS); NaN without. */
  #unitPts = NaN;
  #unitDts = NaN;
  /** The lead PID's previous DTS, for jumps; NaN for none. */
  #lastDts = NaN;
  /** DTS ticks per lead PES in the latest segment that had two. */
  #frameTicks = 0;
  #discontinuityPending = false;
  /** When the packets being pushed came (wall clock); undefined when not said. */
  #receivedAtMs: number | undefined;
  /** Parts of the newest finished segments, by sequence number. */
  #parts = new Map<number, readonly HlsPart[]>();
  /** Goes up with every part and segment finished. */
  #version = 0;

  #listed: HlsSegment[] = [];
  /** Segments that left the playlist, still fetchable. */
  #retired: HlsSegment[] = [];
  #nextSequence: number;
  #discontinuitySequence = 0;
  #targetSeconds: number;
  #ended = false;

  constructor(options: HlsSegmenterOptions = {}) {
    const {
      targetDurationMs = DEFAULT_TARGET_DURATION_MS,
      windowSize = DEFAULT_WINDOW_SIZE,
      firstSequence = 0,
      partTargetMs = 0,
    } = options;
    if (!(targetDurationMs > 0) || !Number.isFinite(targetDurationMs)) {
      throw new RangeError(
        `Cannot segment: target duration ${targetDurationMs} ms is not positive`,
      );
    }
    const maxSegmentBytes = options.maxSegmentBytes ??
      Math.ceil(targetDurationMs / 1000 * DEFAULT_MAX_BITRATE_BPS / 8);
    if (!Number.isSafeInteger(windowSize) || windowSize < 1) {
      throw new RangeError(`Cannot segment: window size ${windowSize} is not a positive integer`);
    }
    if (!Number.isSafeInteger(maxSegmentBytes) || maxSegmentBytes < TS_PACKET_SIZE) {
      throw new RangeError(
        `Cannot segment: a byte cap of ${maxSegmentBytes} is not a whole number of at least ${TS_PACKET_SIZE}`,
      );
    }
    if (!Number.isSafeInteger(firstSequence) || firstSequence < 0) {
      throw new RangeError(`Cannot segment: first sequence ${firstSequence} is not a count`);
    }
    if (!(partTargetMs >= 0) || partTargetMs > targetDurationMs / 2) {
      throw new RangeError(
        `Cannot segment: a part target of ${partTargetMs} ms is not within 0 and half the target duration`,
      );
    }
    this.#partTicks = partTargetMs * TICKS_PER_MS;
    this.#targetTicks = targetDurationMs * TICKS_PER_MS;
    this.#windowSize = windowSize;
    this.#maxBytes = maxSegmentBytes;
    this.#firstSequence = firstSequence;
    this.#nextSequence = firstSequence;
    this.#targetSeconds = Math.max(1, Math.ceil(targetDurationMs / 1000));
  }

  /**
   * Takes the stream's next packets (whole 188-byte packets; anything else is
   * ignored) and returns the segments they finished, oldest first (most
   * often none). Throws after {@link end}.
   */
  push(packets: Uint8Array, options: HlsPushOptions = {}): readonly HlsSegment[] {
    if (this.#ended) throw new Error("Cannot push to an HLS segmenter: the stream has ended");
    const before = this.#nextSequence;
    this.#receivedAtMs = options.receivedAtMs;
    if (options.newPublisher) this.#breakTimeline();
    if (isTransportStream(packets)) {
      for (let o = 0; o < packets.length; o += TS_PACKET_SIZE) {
        this.#packet(packets.subarray(o, o + TS_PACKET_SIZE));
      }
    }
    return this.#finishedSince(before);
  }

  /**
   * The stream has ended: the segment being made is finished (and returned,
   * if there was one) and the playlist ends. Calling it again does nothing.
   */
  end(): HlsSegment | undefined {
    if (this.#ended) return undefined;
    const before = this.#nextSequence;
    this.#closeOpen();
    this.#ended = true;
    this.#buffer = new Uint8Array(0);
    return this.#finishedSince(before)[0];
  }

  /** Whether {@link end} was called. */
  get ended(): boolean {
    return this.#ended;
  }

  /**
   * The sequence number the next finished segment gets: segment `n` exists
   * once this is past `n` (for blocking playlist reloads).
   */
  get nextSequence(): number {
    return this.#nextSequence;
  }

  /**
   * Goes up with every part and segment finished: a waiting player's
   * playlist or part may be there when it has changed.
   */
  get version(): number {
    return this.#version;
  }

  /** The part target in ms (0: segments are not cut into parts). */
  get partTargetMs(): number {
    return this.#partTicks / TICKS_PER_MS;
  }

  /** The finished parts of the segment being made (sequence {@link nextSequence}). */
  get pendingParts(): readonly HlsPart[] {
    return this.#open?.parts ?? NO_PARTS;
  }

  /** The segments the playlist lists, oldest first. */
  get segments(): readonly HlsSegment[] {
    return this.#listed;
  }

  /**
   * The `#EXT-X-TARGETDURATION`, in seconds: the configured target rounded
   * up, raised by the longest segment made so far, never lowered (RFC 8216
   * 6.2.1 does not let it change at all; it only grows when a segment must
   * be longer).
   */
  get targetDurationSeconds(): number {
    return this.#targetSeconds;
  }

  /** The playlist's state, for `renderMediaPlaylist`. */
  playlist(): MediaPlaylist {
    const listedFrom = this.#partsListedFrom();
    const playlist: MediaPlaylist = {
      segments: this.#listed.map((segment, index) => {
        const parts = index >= listedFrom && this.#parts.get(segment.sequence);
        return parts ? { ...segment, parts } : segment;
      }),
      targetDurationMs: this.#targetSeconds * 1000,
      mediaSequence: this.#listed[0]?.sequence ?? this.#nextSequence,
      discontinuitySequence: this.#discontinuitySequence,
      ended: this.#ended,
    };
    if (this.#partTicks === 0) return playlist;
    const open = this.#open;
    return {
      ...playlist,
      partTargetMs: this.#partTicks / TICKS_PER_MS,
      pending: {
        discontinuity: open?.discontinuity ?? this.#discontinuityPending,
        programDateTimeMs: open?.programDateTimeMs,
        parts: open?.parts.slice() ?? NO_PARTS,
      },
    };
  }

  /**
   * Part `index` of segment `sequence`, of the segment being made or of one
   * of the newest finished ones; undefined when gone or not made yet.
   */
  part(sequence: number, index: number): HlsPart | undefined {
    const parts = sequence === this.#nextSequence ? this.#open?.parts : this.#parts.get(sequence);
    return parts?.[index];
  }

  /** Segment `sequence` if the playlist lists it or it left recently, else undefined. */
  segment(sequence: number): HlsSegment | undefined {
    const first = this.#retired[0]?.sequence ?? this.#listed[0]?.sequence;
    if (first === undefined || !Number.isInteger(sequence) || sequence < first) return undefined;
    const index = sequence - first;
    return index < this.#retired.length
      ? this.#retired[index]
      : this.#listed[index - this.#retired.length];
  }

  #finishedSince(sequence: number): readonly HlsSegment[] {
    const count = this.#nextSequence - sequence;
    if (count === 0) return NO_SEGMENTS;
    const all = [...this.#retired, ...this.#listed];
    return all.slice(Math.max(0, all.length - count));
  }

  #packet(packet: Uint8Array): void {
    const flags = this.#inspector.inspect(packet);
    this.#followProgram();
    const pid = ((packet[1]! & 0x1f) << 8) | packet[2]!;
    if (pid === Pid.NULL) return;
    const video = this.#video;
    if (video !== undefined && pid === video.pid) {
      const sets = this.#collector.feed(packet, video);
      if (sets !== undefined) this.#parameterSets = { ...video, bytes: sets };
    }
    const lead = pid === this.#leadPid;
    // A PES starts on the lead PID: a new access unit, perhaps a key frame.
    if (lead && (packet[1]! & 0x40) !== 0 && (packet[3]! & 0x10) !== 0) this.#accessUnit(packet);
    if (this.#open !== undefined || this.#unitOffset >= 0) this.#append(packet);
    if (lead && (flags & MessageFlags.RandomAccess) !== 0) this.#keyFrame();
    this.#checkSize();
  }

  /** Keeps up with the program: its PAT and PMT, its lead PID and its video. */
  #followProgram(): void {
    const inspector = this.#inspector;
    if (inspector.programInfoVersion !== this.#programInfoVersion) {
      this.#programInfoVersion = inspector.programInfoVersion;
      this.#programInfo = inspector.programInfo() ?? this.#programInfo;
    }
    const leadPid = inspector.leadPid;
    if (leadPid !== this.#leadPid) {
      // Another program: what was measured on the old lead PID means nothing now.
      if (this.#leadPid !== undefined) this.#breakTimeline();
      this.#leadPid = leadPid;
      this.#video = videoOf(inspector, leadPid);
    }
  }

  /** A PES starts on the lead PID. */
  #accessUnit(packet: Uint8Array): void {
    const pts = pesTimestamp(packet, 9);
    const dts = pesTimestamp(packet, 14);
    if (!Number.isNaN(dts)) {
      if (Math.abs(timestampDistance(this.#lastDts, dts)) > MAX_DTS_STEP) this.#breakTimeline();
      this.#lastDts = dts;
    }
    if (this.#bytes() >= 2 * this.#maxBytes) this.#forceCut();
    const open = this.#open;
    if (open === undefined) {
      // While waiting, only the access unit that turns out to be a key frame is kept.
      this.#length = 0;
    } else {
      // The access unit that ends here is the open segment's.
      if (this.#unitOffset >= 0) countAccessUnit(open, this.#unitPts, this.#unitDts);
      if (this.#partTicks > 0) this.#partBoundary(open, dts);
    }
    this.#unitOffset = this.#length;
    this.#unitPts = pts;
    this.#unitDts = dts;
  }

  /** The lead PID's current access unit is a key frame (a random-access point). */
  #keyFrame(): void {
    if (this.#unitOffset < 0) return; // its start went with a forced cut
    const open = this.#open;
    if (open === undefined) {
      this.#start(this.#discontinuityPending, true);
      if (this.#open !== undefined) this.#discontinuityPending = false;
    } else if (this.#unitOffset === 0) {
      // The segment's own first key frame. One that a forced cut started right
      // before it starts over, as an independent segment.
      if (!open.independent) {
        this.#open = undefined;
        this.#start(open.discontinuity, true);
      }
    } else {
      const elapsed = timestampDistance(open.startPts, this.#unitPts); // NaN without both
      const full = this.#bytes() >= this.#maxBytes;
      if (elapsed < 0 && open.independent) {
        // It shows before the segment's first key frame: another time base.
        this.#close(this.#unitOffset, undefined, false);
        this.#start(true, true);
      } else if (elapsed >= this.#targetTicks || full || !open.independent) {
        this.#close(this.#unitOffset, elapsed > 0 ? elapsed : undefined, false);
        this.#start(false, true);
      }
    }
  }

  /**
   * Starts a segment: an independent one with what the buffer holds from
   * the current access unit (a key frame) on, or after a forced cut an empty
   * one whose time goes on from `startPts`, where the one before ended.
   */
  #start(discontinuity: boolean, independent: boolean, startPts = NaN): void {
    const programInfo = this.#programInfo;
    if (programInfo === undefined) return; // no PAT and PMT: no program, no lead PID
    const at = this.#unitOffset;
    if (independent && at > 0) {
      this.#buffer.copyWithin(0, at, this.#length);
      this.#length -= at;
      this.#unitOffset = 0;
    }
    const timed = independent && !Number.isNaN(this.#unitPts);
    this.#open = {
      programInfo,
      // Only in front of a key frame with a PTS, which their PES copies.
      parameterSets: timed ? this.#parameterSets : undefined,
      discontinuity,
      independent,
      programDateTimeMs: this.#dateOfNext(discontinuity),
      parts: [],
      partOffset: 0,
      partDts: independent ? this.#unitDts : NaN,
      unitDts: independent ? this.#unitDts : NaN,
      startPts: independent ? this.#unitPts : startPts,
      maxOffset: -Infinity,
      firstDts: NaN,
      lastDts: NaN,
      pesCount: 0,
    };
  }

  /**
   * Finishes the open segment with the buffer's first `end` bytes, lasting
   * `durationTicks`, or when undefined as estimated from its timestamps
   * (`forced`: by a forced cut). Returns how long it lasts, in ticks.
   */
  #close(end: number, durationTicks: number | undefined, forced: boolean): number {
    const open = this.#open!;
    this.#open = undefined;
    if (this.#unitOffset >= 0 && this.#unitOffset < end) {
      countAccessUnit(open, this.#unitPts, this.#unitDts);
    }
    const span = timestampDistance(open.firstDts, open.lastDts);
    if (open.pesCount > 1 && span > 0) this.#frameTicks = span / (open.pesCount - 1);
    // Around a forced cut, a frame per access unit; else up to its last frame's end.
    const ticks = durationTicks ??
      (forced || !open.independent
        ? open.pesCount * this.#frameTicks
        : Math.max(0, open.maxOffset) + this.#frameTicks);
    if (this.#partTicks > 0 && end > open.partOffset) {
      // The last part lasts what is left of the segment.
      const before = open.parts.reduce((sum, { durationMs }) => sum + durationMs, 0);
      this.#cutPart(open, end, Math.max(0, ticks - before * TICKS_PER_MS));
    }
    const bytes = this.#startOf(open, this.#buffer.subarray(0, end));
    const segment: HlsSegment = Object.freeze({
      sequence: this.#nextSequence++,
      bytes,
      durationMs: ticks / TICKS_PER_MS,
      discontinuity: open.discontinuity,
      independent: open.independent,
      ...(open.programDateTimeMs === undefined
        ? {}
        : { programDateTimeMs: open.programDateTimeMs }),
    });
    this.#targetSeconds = Math.max(this.#targetSeconds, roundedSeconds(segment.durationMs));
    this.#listed.push(segment);
    if (this.#partTicks > 0) this.#parts.set(segment.sequence, partsOf(bytes, open.parts));
    this.#slideWindow();
    this.#version++;
    return ticks;
  }

  /**
   * A segment's first bytes: its PAT and PMT, then `body` (which starts
   * the segment) with the parameter sets in front of its key frame if it
   * lacks them.
   */
  #startOf(open: OpenSegment, body: Uint8Array): Uint8Array {
    if (open.parameterSets !== undefined) body = withParameterSets(body, open.parameterSets);
    const bytes = new Uint8Array(open.programInfo.length + body.length);
    bytes.set(open.programInfo);
    bytes.set(body, open.programInfo.length);
    return bytes;
  }

  /**
   * A lead PES starts with DTS `dts` (the PTS without one): the open part
   * ends before it if that access unit would take it past the part target.
   */
  #partBoundary(open: OpenSegment, dts: number): void {
    if (Number.isNaN(dts)) return;
    if (Number.isNaN(open.partDts)) open.partDts = dts;
    // Under half a millisecond over still reads as the part target (3 decimals).
    const limit = this.#partTicks + PART_ROUNDING_TICKS;
    let elapsed = timestampDistance(open.partDts, dts);
    const previous = open.unitDts;
    // The access unit that ends here came late (a variable frame rate, a lost frame) and took
    // the part past the target: the part ends before it, where it was still within.
    if (elapsed > limit && !Number.isNaN(previous) && this.#unitOffset > open.partOffset) {
      const within = timestampDistance(open.partDts, previous);
      if (within > 0) {
        this.#cutPart(open, this.#unitOffset, within);
        open.partDts = previous;
        elapsed = timestampDistance(previous, dts);
      }
    }
    // The next access unit is taken to last as long as the longer of the last one and the
    // mean frame: the part ends here if it would take it past the target.
    const last = Number.isNaN(previous) ? 0 : timestampDistance(previous, dts);
    const step = Math.max(0, last, this.#frameTicks);
    open.unitDts = dts;
    if (this.#length > open.partOffset && elapsed > 0 && elapsed + step > limit) {
      this.#cutPart(open, this.#length, elapsed);
      open.partDts = dts;
    }
  }

  /** Finishes the open segment's next part, up to buffer offset `end`, lasting `ticks`. */
  #cutPart(open: OpenSegment, end: number, ticks: number): void {
    const body = this.#buffer.subarray(open.partOffset, end);
    const first = open.parts.length === 0;
    open.parts.push(Object.freeze({
      bytes: first ? this.#startOf(open, body) : body.slice(),
      durationMs: ticks / TICKS_PER_MS,
      independent: first && open.independent,
    }));
    open.partOffset = end;
    this.#version++;
  }

  /**
   * The program date-time of a segment that starts now: the segment
   * before's end, unless that fell more than a second behind when its key
   * frame came (the encoder's clock runs slow), or after a discontinuity:
   * then when its key frame came. Within a timeline dates never go back (a
   * burst or a backlog keeps them chained); undefined when pushes do not
   * say when.
   */
  #dateOfNext(discontinuity: boolean): number | undefined {
    const came = this.#receivedAtMs;
    const before = this.#listed.at(-1);
    const chained = !discontinuity && before?.programDateTimeMs !== undefined
      ? before.programDateTimeMs + before.durationMs
      : undefined;
    if (came === undefined || chained === undefined) return chained ?? came;
    return came - chained > MAX_DATE_DRIFT_MS ? came : chained;
  }

  /** Moves segments out of the playlist as RFC 8216 6.2.2 allows, and forgets old ones. */
  #slideWindow(): void {
    const listed = this.#listed;
    const least = 3 * this.#targetSeconds * 1000;
    let total = listed.reduce((sum, { durationMs }) => sum + durationMs, 0);
    while (listed.length > this.#windowSize) {
      const oldest = listed[0]!;
      const rest = total - oldest.durationMs;
      if (rest < least && listed.length < 2 * this.#windowSize) break;
      listed.shift();
      total = rest;
      if (oldest.discontinuity) this.#discontinuitySequence++;
      this.#retired.push(oldest);
    }
    while (this.#retired.length > this.#windowSize) this.#retired.shift();
    this.#forgetOldParts();
  }

  /**
   * Where in the listed segments the playlist starts listing parts: the
   * newest segments that cover three target durations (the draft's 4.4.4.9
   * lets older parts go).
   */
  #partsListedFrom(): number {
    const listed = this.#listed;
    let covered = 0;
    let from = listed.length;
    while (from > 0 && covered < 3 * this.#targetSeconds * 1000) {
      covered += listed[--from]!.durationMs;
    }
    return from;
  }

  /**
   * Keeps the parts of every segment still fetchable: a part that left the
   * playlist stays fetchable as long as its segment (the draft's 6.2.2 asks
   * for three target durations at least), at no cost, its bytes being a
   * view of the segment's.
   */
  #forgetOldParts(): void {
    if (this.#parts.size === 0) return;
    const oldest = (this.#retired[0] ?? this.#listed[0])?.sequence ?? this.#nextSequence;
    for (const sequence of this.#parts.keys()) {
      if (sequence < oldest) this.#parts.delete(sequence);
    }
  }

  /** Finishes the open segment with all it holds, and waits for a key frame. */
  #closeOpen(): void {
    if (this.#open !== undefined && this.#length > 0) this.#close(this.#length, undefined, false);
    this.#open = undefined;
    this.#length = 0;
    this.#unitOffset = -1;
  }

  /** A new publisher or time base: the next segment starts at a key frame, after a discontinuity. */
  #breakTimeline(): void {
    this.#closeOpen();
    this.#discontinuityPending ||= this.#nextSequence !== this.#firstSequence;
    this.#lastDts = NaN;
  }

  #append(packet: Uint8Array): void {
    if (this.#length + packet.length > this.#buffer.length) {
      const grown = new Uint8Array(Math.max(2 * this.#buffer.length, this.#length + packet.length));
      grown.set(this.#buffer.subarray(0, this.#length));
      this.#buffer = grown;
    }
    this.#buffer.set(packet, this.#length);
    this.#length += packet.length;
  }

  /** The open segment's size so far, its PAT and PMT included; 0 while waiting. */
  #bytes(): number {
    return this.#open === undefined ? 0 : this.#open.programInfo.length + this.#length;
  }

  /** Enforces the byte cap's last limit. */
  #checkSize(): void {
    if (this.#open !== undefined) {
      if (this.#bytes() >= 3 * this.#maxBytes) this.#forceCut();
    } else if (this.#length >= this.#maxBytes) {
      // An access unit larger than the cap while waiting: give up on it.
      this.#length = 0;
      this.#unitOffset = -1;
    }
  }

  /** Finishes the open segment with all it holds; the next goes on from where it ended. */
  #forceCut(): void {
    const open = this.#open!;
    const ticks = this.#close(this.#length, undefined, true);
    this.#length = 0;
    this.#unitOffset = -1;
    this.#start(false, false, (open.startPts + ticks) % TIMESTAMP_MODULO);
  }
}

/**
 * A finished segment's parts as views of its `bytes`, which they make up
 * end to end, so that they cost no memory of their own; the parts as they
 * were when they do not add up to it (never expected).
 */
function partsOf(bytes: Uint8Array, parts: readonly HlsPart[]): readonly HlsPart[] {
  const total = parts.reduce((sum, part) => sum + part.bytes.length, 0);
  if (total !== bytes.length) return Object.freeze(parts.slice());
  let offset = 0;
  return Object.freeze(
    parts.map((part) =>
      Object.freeze({ ...part, bytes: bytes.subarray(offset, offset += part.bytes.length) })
    ),
  );
}

/** Counts a lead PES (an access unit) with its timestamps into a segment's. */
function countAccessUnit(open: OpenSegment, pts: number, dts: number): void {
  if (Number.isNaN(pts)) return;
  if (Number.isNaN(open.startPts)) open.startPts = pts;
  open.maxOffset = Math.max(open.maxOffset, timestampDistance(open.startPts, pts));
  if (open.pesCount === 0) open.firstDts = dts;
  open.lastDts = dts;
  open.pesCount++;
}

/** The lead PID's codec when it is H.264 or HEVC video, whose parameter sets are kept. */
function videoOf(
  inspector: TsInspector,
  leadPid: number | undefined,
): { pid: number; codec: VideoCodec } | undefined {
  const stream = inspector.program?.streams.find(({ pid }) => pid === leadPid);
  if (stream?.streamType === StreamType.H264) return { pid: stream.pid, codec: VideoCodec.H264 };
  if (stream?.streamType === StreamType.HEVC) return { pid: stream.pid, codec: VideoCodec.Hevc };
  return undefined;
}

/**
 * A timestamp of the PES header that starts in `packet`, in 90 kHz ticks:
 * the PTS (at byte 9 of the header) or the DTS (at byte 14; the PTS when
 * there is no DTS). NaN when the packet starts no PES with a PTS.
 */
function pesTimestamp(packet: Uint8Array, at: 9 | 14): number {
  const p = (packet[3]! & 0x20) === 0 ? 4 : 5 + packet[4]!;
  if (p + 9 > TS_PACKET_SIZE) return NaN;
  if (packet[p] !== 0 || packet[p + 1] !== 0 || packet[p + 2] !== 1) return NaN;
  // The optional header's '10' marker, then PTS_DTS_flags: 0b10 PTS, 0b11 PTS and DTS.
  const flags = packet[p + 7]! >> 6;
  if ((packet[p + 6]! & 0xc0) !== 0x80 || flags < 2) return NaN;
  const t = p + (flags === 3 ? at : 9);
  // Within the header's data (header_data_length) and the packet.
  if (t + 5 > p + 9 + packet[p + 8]! || t + 5 > TS_PACKET_SIZE) return NaN;
  return ((packet[t]! >> 1) & 0x07) * 2 ** 30 + packet[t + 1]! * 2 ** 22 +
    (packet[t + 2]! >> 1) * 2 ** 15 + packet[t + 3]! * 2 ** 7 + (packet[t + 4]! >> 1);
}

/**
 * `to - from` in PTS or DTS ticks across the 33-bit wrap, in [-2^32, 2^32);
 * NaN when either is NaN.
 */
export function timestampDistance(from: number, to: number): number {
  const forward = (((to - from) % TIMESTAMP_MODULO) + TIMESTAMP_MODULO) % TIMESTAMP_MODULO;
  return forward >= TIMESTAMP_MODULO / 2 ? forward - TIMESTAMP_MODULO : forward;
}
