/**
 * HLS in the output process: for each stream, a packager that follows the
 * stream's buffer like an HTTP-TS client (its own {@link StreamFollower},
 * the feed's shared wake waits) and feeds an {@link HlsSegmenter}, whose
 * playlist and segments the media server answers (media_server.ts).
 *
 * The lifecycle of one stream's HLS ({@link HlsStream}):
 *
 * - A packager runs while the stream is watched over HLS (a playlist or
 *   segment request within {@link idleTimeoutMs}: three target durations
 *   plus 10 s), or all the time when its rule says `hls: always`. A first
 *   playlist request starts it; once idle it stops, and its segments are let
 *   go.
 * - A new publisher (a takeover) and a skip (the packager fell behind the
 *   buffer and jumped ahead) are splices: the segmenter starts a segment
 *   after a discontinuity there.
 * - When the stream ends the segmenter ends too: the playlist gets
 *   `#EXT-X-ENDLIST` and stays served for {@link endedLingerMs} (the
 *   window's duration, 30 s at least), then the stream's HLS is gone (404).
 *   A stream that comes back within that time replaces it.
 * - Each segmenter's sequence numbers go on from the one before it in the
 *   same stream, and start at least at the wall clock in tenths of a
 *   second: a segment's URL never names two contents, even across a
 *   restart of the output process, so segments may be cached for long.
 * - Rules (`hls`, `hlsSegmentMs`, `hlsWindow`, `hlsPartMs`) changed by a
 *   config reload apply at once to the mode, and to the next segmenter for
 *   the rest.
 * - Low-latency HLS (a part target, `hlsPartMs`): a playlist request with
 *   `_HLS_msn` (and `_HLS_part`) is held until that segment (or part) is
 *   there, and a request for the part the playlist hints at until it is
 *   made (draft-pantos-hls-rfc8216bis-17 6.2.5.2, 6.2.6), at most
 *   {@link blockingWaitMs}. Each segment gets the wall-clock time its key
 *   frame reached Atoll (the publisher's child) as its program date-time.
 *
 * @module
 */

import { type BlockingReload, partUri, segmentUri } from "../http/media_paths.ts";
import type { HlsRules } from "../ipc/output_messages.ts";
import { renderMediaPlaylist } from "../media/hls_playlist.ts";
import { type HlsPart, type HlsSegment, HlsSegmenter } from "../media/hls_segmenter.ts";
import { StreamFollower } from "../media/stream_follower.ts";
import type { Feed } from "./feeds.ts";

/** A client counts in `hlsClients` for this long after its last request. */
export const CLIENT_WINDOW_MS = 30_000;
/** Addresses counted at most per stream; the oldest are forgotten first. */
const MAX_TRACKED_CLIENTS = 10_000;
/** Messages read from the buffer before the loop lets the rest of the process run. */
const MAX_MESSAGES_PER_TURN = 1024;

/** How long after the last HLS request an on-demand packager stops: 3 target durations + 10 s. */
export function idleTimeoutMs(rules: HlsRules): number {
  return 3 * rules.segmentMs + 10_000;
}

/** How long a playlist request waits for a first segment: 2 target durations + 2 s. */
export function firstSegmentWaitMs(rules: HlsRules): number {
  return 2 * rules.segmentMs + 2000;
}

/**
 * How long a blocking playlist reload or a hinted part is held at most:
 * three target durations (the draft's 6.2.5.2; the playlist's, which a GOP
 * longer than the rule's raises), then it is answered 503.
 */
export function blockingWaitMs(segmenter: HlsSegmenter): number {
  return 3 * segmenter.targetDurationSeconds * 1000;
}

/**
 * How many parts past the newest one a blocking reload may ask for: the
 * draft's Advance Part Limit (6.2.5.2), three seconds' worth of parts, or
 * three parts for part targets of a second or more. Further is a 400.
 */
export function advancePartLimit(partTargetMs: number): number {
  return partTargetMs < 1000 ? 3000 / partTargetMs : 3;
}

/** How long an ended stream's playlist stays: the window's duration, 30 s at least. */
export function endedLingerMs(rules: HlsRules): number {
  return Math.max(30_000, rules.window * rules.segmentMs);
}

/** What a playlist request gets. */
export type PlaylistAnswer =
  | { kind: "playlist"; text: string }
  /** No such stream, or its HLS is gone. */
  | { kind: "unknown" }
  /** The stream is there, but no segment came in time (no key frame, no publisher). */
  | { kind: "not-ready"; retryAfterSeconds: number }
  /** A blocking reload asked for a segment too far ahead (more than one past the next). */
  | { kind: "too-far"; message: string };

/** What a playlist request asks for. */
export interface PlaylistRequest {
  /** The client's address: the stream counts as watched. */
  client: string;
  /** Put after each segment's and part's URI (the request's credential), normalized; "" for none. */
  query?: string;
  /** Hold the answer until this segment or part is there (low-latency HLS). */
  block?: BlockingReload;
}

/** One stream's HLS figures, as the `stats` report gives them. */
export interface HlsStats {
  hlsClients: number;
  hlsSegments: number;
  hlsBytesSent: number;
}

export interface HlsTableOptions {
  /** Monotonic milliseconds; `performance.now()` by default. */
  now?: () => number;
  /** Wall-clock milliseconds, for the first sequence numbers; `Date.now()` by default. */
  wallClock?: () => number;
  /** Where a packager's failure is told. */
  log?: (level: "warning" | "error", message: string) => void;
  /** How long an ended playlist stays, in ms; {@link endedLingerMs} of its rules by default. */
  endedLingerMs?: number;
}

/** One stream's HLS: its rules, its packager if one runs, its figures. */
class HlsStream {
  readonly name: string;
  rules: HlsRules;
  readonly #table: HlsTable;
  #feed: Feed | undefined;
  #segmenter: HlsSegmenter | undefined;
  #loop: Promise<void> | undefined;
  #lastRequestMs = -Infinity;
  #nextSequence = 0;
  #event = Promise.withResolvers<void>();
  /** Client address → when it last asked, oldest first. */
  #clients = new Map<string, number>();
  segmentsMade = 0;
  bytesSent = 0;
  lingerTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(table: HlsTable, name: string, rules: HlsRules) {
    this.#table = table;
    this.name = name;
    this.rules = rules;
  }

  get segmenter(): HlsSegmenter | undefined {
    return this.#segmenter;
  }

  get live(): boolean {
    return this.#feed !== undefined;
  }

  /** The stream (re)began with `feed`: an ended playlist before it goes. */
  began(feed: Feed): void {
    this.#feed = feed;
    this.#segmenter = undefined;
    this.segmentsMade = 0;
    this.bytesSent = 0;
    this.#clients.clear();
    if (this.rules.mode === "always") this.start();
  }

  /** Starts a packager if the stream is live and none runs. */
  start(): void {
    const feed = this.#feed;
    if (feed === undefined || feed.ended || this.#segmenter !== undefined) return;
    const table = this.#table;
    const segmenter = new HlsSegmenter({
      targetDurationMs: this.rules.segmentMs,
      windowSize: this.rules.window,
      partTargetMs: this.rules.partMs,
      firstSequence: Math.max(this.#nextSequence, Math.floor(table.wallClock() / 100)),
    });
    this.#segmenter = segmenter;
    const loop = this.#package(feed, segmenter).catch((error) => {
      table.log("error", `HLS of stream "${this.name}" stopped: ${error}`);
      if (this.#segmenter === segmenter) this.#drop();
    });
    this.#loop = loop;
  }

  /** The stream ended: the playlist ends; false when there is nothing to keep serving. */
  async ended(): Promise<boolean> {
    this.#feed = undefined;
    await this.#loop;
    const segmenter = this.#segmenter;
    if (segmenter === undefined) return false;
    if (segmenter.end() !== undefined) this.segmentsMade++;
    this.#nextSequence = segmenter.nextSequence;
    this.#notify();
    if (segmenter.segments.length > 0) return true;
    this.#segmenter = undefined;
    return false;
  }

  /** A request from `client`: the stream counts as watched. */
  requested(client: string): void {
    const now = this.#table.now();
    this.#lastRequestMs = now;
    this.#clients.delete(client);
    this.#clients.set(client, now);
    if (this.#clients.size > MAX_TRACKED_CLIENTS) {
      this.#clients.delete(this.#clients.keys().next().value!);
    }
  }

  /** Resolves at the next segment, end or stop, or after `timeoutMs`. */
  async changed(timeoutMs: number): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.#event.promise,
      new Promise((resolve) => timer = setTimeout(resolve, timeoutMs)),
    ]);
    clearTimeout(timer);
  }

  stats(): HlsStats {
    const since = this.#table.now() - CLIENT_WINDOW_MS;
    for (const [client, at] of this.#clients) {
      if (at >= since) break;
      this.#clients.delete(client);
    }
    return {
      hlsClients: this.#clients.size,
      hlsSegments: this.segmentsMade,
      hlsBytesSent: this.bytesSent,
    };
  }

  /** Stops watching the stream's buffer (the process stops). */
  async close(): Promise<void> {
    this.#feed = undefined;
    this.#drop();
    await this.#loop;
  }

  #notify(): void {
    this.#event.resolve();
    this.#event = Promise.withResolvers<void>();
  }

  /** Lets the segmenter go; its sequence numbers go on in the next. */
  #drop(): void {
    const segmenter = this.#segmenter;
    if (segmenter === undefined) return;
    this.#nextSequence = segmenter.nextSequence;
    this.#segmenter = undefined;
    this.#notify();
  }

  /** Follows `feed` into `segmenter` until the feed ends, the stream is idle or it is replaced. */
  async #package(feed: Feed, segmenter: HlsSegmenter): Promise<void> {
    const follower = StreamFollower.attach(feed.buffer);
    let skips = 0;
    while (!feed.ended && this.#segmenter === segmenter) {
      if (
        this.rules.mode === "on-demand" &&
        this.#table.now() - this.#lastRequestMs > idleTimeoutMs(this.rules)
      ) {
        this.#drop();
        return;
      }
      const seen = follower.wakeValue;
      const version = segmenter.version;
      let made = 0;
      let messages = 0;
      let caughtUp = false;
      while (messages < MAX_MESSAGES_PER_TURN) {
        const step = follower.next();
        if (step.kind === "none") {
          caughtUp = true;
          break;
        }
        if (step.kind !== "message") continue;
        messages++;
        // A skip is a splice as much as a takeover is.
        const splice = step.newPublisher || follower.skips !== skips;
        skips = follower.skips;
        // When the publisher's child received it, on the wall clock (sharedClockUs()).
        const receivedAtMs = step.timeUs > 0 ? step.timeUs / 1000 : undefined;
        if (step.programInfo !== undefined) {
          made += segmenter.push(step.programInfo, { newPublisher: splice, receivedAtMs }).length;
          made += segmenter.push(step.packets, { receivedAtMs }).length;
        } else made += segmenter.push(step.packets, { newPublisher: splice, receivedAtMs }).length;
      }
      this.segmentsMade += made;
      this.#nextSequence = segmenter.nextSequence;
      // A segment, or a part that a blocked request may wait for.
      if (segmenter.version !== version) this.#notify();
      if (!caughtUp) await new Promise((resolve) => setTimeout(resolve, 0));
      // Read the wake word before reading the buffer: a write since then has changed it.
      else if (follower.wakeValue === seen) await feed.changed(seen);
    }
  }
}

/** Why `block` asks too far ahead to be held (the server answers 400); undefined when it does not. */
function tooFarAhead(segmenter: HlsSegmenter, { msn, part }: BlockingReload): string | undefined {
  const next = segmenter.nextSequence;
  if (msn > next + 1) {
    return `Segment ${msn} is more than one past the next, ${next}: ask for the playlist again`;
  }
  if (part === undefined || msn < next) return undefined;
  // Parts ahead of the newest one: of the segment being made, or (msn = next + 1) at least this.
  const ahead = msn === next ? part - (segmenter.pendingParts.length - 1) : part + 1;
  const limit = advancePartLimit(segmenter.partTargetMs);
  return ahead > limit
    ? `Part ${part} of segment ${msn} is more than ${limit} parts past the newest: ` +
      "ask for the playlist again"
    : undefined;
}

/**
 * Whether a blocking reload for `block` can be answered: segment `msn` is
 * finished (or, with a part, that part or a later one is there; a part past
 * the last of its finished segment can no longer come, so it waits for the
 * first of the next).
 */
function reloadReady(segmenter: HlsSegmenter, { msn, part }: BlockingReload): boolean {
  const next = segmenter.nextSequence;
  if (segmenter.ended || next > msn + 1) return true;
  if (part === undefined) return next > msn;
  if (next === msn) return segmenter.pendingParts.length > part;
  // next === msn + 1: segment msn is finished; part `part` of it, or else the next's first.
  return next > msn && (segmenter.part(msn, part) !== undefined ||
    segmenter.pendingParts.length > 0 || segmenter.part(msn, 0) === undefined);
}

/** Every stream's HLS in the output process, by name. */
export class HlsTable {
  readonly now: () => number;
  readonly wallClock: () => number;
  readonly log: (level: "warning" | "error", message: string) => void;
  readonly #endedLingerMs: number | undefined;
  readonly #streams = new Map<string, HlsStream>();

  constructor(options: HlsTableOptions = {}) {
    this.now = options.now ?? (() => performance.now());
    this.wallClock = options.wallClock ?? (() => Date.now());
    this.log = options.log ?? (() => {});
    this.#endedLingerMs = options.endedLingerMs;
  }

  /** Whether stream `name` is being packaged now. */
  packaging(name: string): boolean {
    const stream = this.#streams.get(name);
    return stream !== undefined && stream.live && stream.segmenter !== undefined;
  }

  /** Stream `feed.name` began (again), with `rules`. */
  began(feed: Feed, rules: HlsRules): void {
    let stream = this.#streams.get(feed.name);
    if (stream === undefined) {
      stream = new HlsStream(this, feed.name, rules);
      this.#streams.set(feed.name, stream);
    }
    clearTimeout(stream.lingerTimer);
    stream.lingerTimer = undefined;
    stream.rules = rules;
    stream.began(feed);
  }

  /** A config reload changed stream `name`'s rules. */
  setRules(name: string, rules: HlsRules): void {
    const stream = this.#streams.get(name);
    if (stream === undefined) return;
    stream.rules = rules;
    if (rules.mode === "always") stream.start();
  }

  /**
   * Stream `name` ended: its playlist ends and stays served for a while, if
   * it had segments; else its HLS is gone at once.
   */
  async ended(name: string): Promise<void> {
    const stream = this.#streams.get(name);
    if (stream === undefined || !stream.live) return;
    if (!await stream.ended()) {
      if (this.#streams.get(name) === stream && !stream.live) this.#streams.delete(name);
      return;
    }
    if (this.#streams.get(name) !== stream || stream.live) return; // it began again meanwhile
    stream.lingerTimer = setTimeout(() => {
      if (this.#streams.get(name) === stream && !stream.live) this.#streams.delete(name);
    }, this.#endedLingerMs ?? endedLingerMs(stream.rules));
  }

  /**
   * Stream `name`'s playlist, for a request from `client`. The first
   * request starts the packager and waits up to {@link firstSegmentWaitMs}
   * for a segment: a playlist without any makes some players give up.
   */
  async playlist(name: string, request: PlaylistRequest): Promise<PlaylistAnswer> {
    const stream = this.#streams.get(name);
    if (stream === undefined) return { kind: "unknown" };
    stream.requested(request.client);
    stream.start();
    const retryAfterSeconds = Math.ceil(stream.rules.segmentMs / 1000);
    const deadline = this.now() + firstSegmentWaitMs(stream.rules);
    const block = request.block;
    let blockDeadline: number | undefined;
    for (;;) {
      const segmenter = stream.segmenter;
      if (segmenter === undefined) {
        // Stopped: it failed, or the stream ended before any segment.
        return this.#streams.get(name) === stream
          ? { kind: "not-ready", retryAfterSeconds }
          : { kind: "unknown" };
      }
      if (segmenter.segments.length > 0 || segmenter.ended) {
        // Only a low-latency playlist says it can block (CAN-BLOCK-RELOAD).
        if (block !== undefined && segmenter.partTargetMs > 0 && !segmenter.ended) {
          const tooFar = tooFarAhead(segmenter, block);
          if (tooFar !== undefined) return { kind: "too-far", message: tooFar };
          if (!reloadReady(segmenter, block)) {
            blockDeadline ??= this.now() + blockingWaitMs(segmenter);
            const left = blockDeadline - this.now();
            if (left <= 0) return { kind: "not-ready", retryAfterSeconds };
            await stream.changed(left);
            continue;
          }
        }
        const query = request.query ?? "";
        const suffix = query === "" ? "" : `?${query}`;
        const uriOf = (sequence: number, part?: number) =>
          (part === undefined ? segmentUri(sequence) : partUri(sequence, part)) + suffix;
        return { kind: "playlist", text: renderMediaPlaylist(segmenter.playlist(), uriOf) };
      }
      const left = deadline - this.now();
      if (left <= 0) return { kind: "not-ready", retryAfterSeconds };
      await stream.changed(left);
    }
  }

  /** Segment `sequence` of stream `name`, for a request from `client`; undefined when gone. */
  segment(name: string, sequence: number, client: string): HlsSegment | undefined {
    const stream = this.#streams.get(name);
    if (stream === undefined) return undefined;
    stream.requested(client);
    return stream.segmenter?.segment(sequence);
  }

  /**
   * Part `part` of segment `sequence` of stream `name`, for a request from
   * `client`. The next part to be made (the one the playlist hints at, or
   * the first of the segment after) is waited for, up to
   * {@link blockingWaitMs}; undefined when gone, too far ahead or not made
   * in time.
   */
  async part(
    name: string,
    sequence: number,
    part: number,
    client: string,
  ): Promise<HlsPart | undefined> {
    const stream = this.#streams.get(name);
    if (stream === undefined) return undefined;
    stream.requested(client);
    let deadline: number | undefined;
    for (;;) {
      const segmenter = stream.segmenter;
      if (segmenter === undefined) return undefined;
      deadline ??= this.now() + blockingWaitMs(segmenter);
      const found = segmenter.part(sequence, part);
      if (found !== undefined) return found;
      const next = segmenter.nextSequence;
      const coming = !segmenter.ended && (
        (sequence === next && part === segmenter.pendingParts.length) ||
        (sequence === next + 1 && part === 0)
      );
      const left = deadline - this.now();
      if (!coming || left <= 0) return undefined;
      await stream.changed(left);
    }
  }

  /** `bytes` of stream `name`'s playlists or segments went out. */
  countSent(name: string, bytes: number): void {
    const stream = this.#streams.get(name);
    if (stream !== undefined) stream.bytesSent += bytes;
  }

  /** Stream `name`'s figures; zeros when it has no HLS. */
  stats(name: string): HlsStats {
    return this.#streams.get(name)?.stats() ?? { hlsClients: 0, hlsSegments: 0, hlsBytesSent: 0 };
  }

  /** Stops every packager and forgets every stream (the process stops). */
  async close(): Promise<void> {
    const streams = [...this.#streams.values()];
    this.#streams.clear();
    for (const stream of streams) clearTimeout(stream.lingerTimer);
    await Promise.all(streams.map((stream) => stream.close()));
  }
}
