/**
 * One viewer's way through a stream buffer: what to send next, so that a
 * player decodes from its first byte and every seam is clean. Shared by
 * the SRT viewer's child (src/peer/play_loop.ts) and the HTTP media output
 * (src/output/), which differ only in where the bytes go and how they wait.
 *
 * - It starts at the newest random-access point, with the newest PAT and
 *   PMT first, and the video's parameter sets (SPS, PPS, VPS) before that
 *   key frame when its access unit lacks them.
 * - A follower that falls behind the buffer (the writer lapped it) jumps to
 *   the newest random-access point, counted in {@link StreamFollower.skips}.
 * - When a new publisher takes the stream over, it drops that publisher's
 *   messages up to its first random-access point and starts again there.
 * - At each such seam a `ContinuityKeeper` keeps every PID's continuity
 *   counter continuous or marks the discontinuity.
 *
 * Pure and never blocking: {@link StreamFollower.next} answers `none` when
 * there is nothing new, and the caller waits on the buffer's wake word
 * ({@link StreamFollower.wakeValue}) its own way.
 *
 * @module
 */

import { ContinuityKeeper } from "./continuity.ts";
import { withParameterSets } from "./parameter_sets.ts";
import {
  MessageFlags,
  readBufferCounters,
  type StreamBufferLayout,
  StreamReader,
} from "./stream_buffer.ts";

/** What {@link StreamFollower.next} found. */
export type FollowStep =
  /** Nothing new: caught up with the writer. */
  | { kind: "none" }
  /** The writer lapped this follower: it jumps ahead (one skip, `count` messages). */
  | { kind: "skipped"; count: number }
  /** A message read and not to be sent: waiting for a random-access point. */
  | { kind: "dropped" }
  | {
    kind: "message";
    /**
     * The PAT and PMT to send first, at a start (joining, after a skip,
     * after a new publisher): their own message. Undefined otherwise.
     */
    programInfo: Uint8Array<ArrayBuffer> | undefined;
    /**
     * The packets to send: the message as stored, or changed at a seam.
     * Valid until the next call; may be longer than one SRT message.
     */
    packets: Uint8Array<ArrayBuffer>;
    /** The message starts a random-access point. */
    randomAccess: boolean;
    /** The first message sent from a publisher other than the one before. */
    newPublisher: boolean;
    /** The first message after joining, a skip or a new publisher. */
    start: boolean;
    /** When the publisher's child received it, µs of the shared monotonic clock. */
    timeUs: number;
  };

const NONE: FollowStep = Object.freeze({ kind: "none" });
const DROPPED: FollowStep = Object.freeze({ kind: "dropped" });

/** A reader of one stream buffer that yields what a viewer should send. */
export class StreamFollower {
  readonly #buffer: ArrayBuffer;
  readonly #reader: StreamReader;
  readonly #message: Uint8Array<ArrayBuffer>;
  readonly #continuity = new ContinuityKeeper();
  /** Until a random-access message: on joining, after a skip, after a new publisher. */
  #resync = true;
  /** The writer (publisher) generation of the last message read. */
  #generation: number | undefined;
  /** The generation of the last message sent, for `newPublisher`. */
  #sentGeneration: number | undefined;
  #skips = 0;
  /** The next random-access message comes with the program info, as at a start. */
  #restartAtKey = false;

  private constructor(buffer: ArrayBuffer, reader: StreamReader) {
    this.#buffer = buffer;
    this.#reader = reader;
    this.#message = new Uint8Array(reader.layout.slotPayload);
  }

  /**
   * Follows the initialized stream buffer `buffer` from its newest
   * random-access point. Throws a TypeError like `StreamReader.attach`.
   */
  static attach(buffer: ArrayBuffer): StreamFollower {
    return new StreamFollower(buffer, StreamReader.attach(buffer));
  }

  get layout(): StreamBufferLayout {
    return this.#reader.layout;
  }

  /** The wake word's value: read it before {@link next}, wait on it after `none`. */
  get wakeValue(): number {
    return this.#reader.wakeValue;
  }

  /** Times this follower fell behind and skipped ahead. */
  get skips(): number {
    return this.#skips;
  }

  /**
   * Makes the next random-access message come with the PAT, PMT and
   * parameter sets, as at a start, without dropping anything before it and
   * without a seam: for a recording that starts a new file there.
   */
  markNextKeyFrame(): void {
    this.#restartAtKey = true;
  }

  /** Reads the next message and says what to do with it; never blocks. */
  next(): FollowStep {
    const reader = this.#reader;
    const result = reader.read(this.#message);
    if (result.kind === "none") return NONE;
    if (result.kind === "skipped") {
      this.#skips++;
      this.#resync = true;
      return { kind: "skipped", count: result.count };
    }
    let packets: Uint8Array<ArrayBuffer> = this.#message.subarray(0, result.length);
    const randomAccess = (result.flags & MessageFlags.RandomAccess) !== 0;
    // A new publisher: start again at its first random-access point, where
    // the continuity keeper marks the discontinuity on every PID.
    if (result.generation !== this.#generation) {
      this.#generation = result.generation;
      this.#resync = true;
    }
    let programInfo: Uint8Array<ArrayBuffer> | undefined;
    const start = this.#resync;
    if (start) {
      // A stream without random-access points (no video, no audio, say) starts anywhere.
      if (!randomAccess && readBufferCounters(this.#buffer).randomAccessPoints > 0) return DROPPED;
      this.#resync = false;
      const info = reader.programInfo();
      this.#continuity.splice(info);
      // slice(): an ArrayBuffer-backed copy, as libsrt's send takes.
      if (info !== undefined) programInfo = this.#continuity.pass(info.slice());
      if (randomAccess) packets = withParameterSets(packets, reader.parameterSets());
      this.#restartAtKey = false;
    } else if (this.#restartAtKey && randomAccess) {
      this.#restartAtKey = false;
      const info = reader.programInfo();
      // No splice: the PSI numbering simply continues, as does everything else.
      if (info !== undefined) programInfo = this.#continuity.pass(info.slice());
      packets = withParameterSets(packets, reader.parameterSets());
    }
    const newPublisher = this.#sentGeneration !== undefined &&
      this.#sentGeneration !== result.generation;
    this.#sentGeneration = result.generation;
    return {
      kind: "message",
      programInfo,
      packets: this.#continuity.pass(packets),
      randomAccess,
      newPublisher,
      start,
      timeUs: result.timeUs,
    };
  }
}
