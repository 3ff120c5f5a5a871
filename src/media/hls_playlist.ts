/**
 * HLS media playlists (RFC 8216) for a live stream's sliding window of
 * MPEG-TS segments: {@link renderMediaPlaylist} writes the text a player
 * reloads, from what `HlsSegmenter.playlist()` reports.
 *
 * What is written, and the sections of RFC 8216 it follows:
 *
 * - `#EXTM3U`, then `#EXT-X-VERSION:3`: the lowest version whose `#EXTINF`
 *   durations may have decimals (4.3.1.2, 7).
 * - `#EXT-X-TARGETDURATION` (4.3.3.1): whole seconds, at least every listed
 *   segment's `#EXTINF` duration rounded to the nearest integer, and at
 *   least the caller's target duration rounded up. A server must not change
 *   it while a playlist lives (6.2.1, which lists what may change), so the
 *   caller passes a value that only ever grows: the segmenter's target
 *   raised by the longest segment it has ever made.
 * - `#EXT-X-MEDIA-SEQUENCE` (4.3.3.2): the first listed segment's sequence
 *   number, the next one to come while none is listed.
 * - `#EXT-X-DISCONTINUITY-SEQUENCE` (4.3.3.3, 6.2.2): how many
 *   discontinuities have left the window, written once there are any, so
 *   each listed segment keeps its discontinuity sequence number.
 * - `#EXT-X-DISCONTINUITY` (4.3.2.3) before each segment that follows a
 *   change of time base or encoder: a publisher takeover.
 * - `#EXTINF:<seconds, 3 decimals>,` then the segment's URI (4.3.2.1).
 * - `#EXT-X-ENDLIST` (4.3.3.4) once the stream has ended.
 * - `#EXT-X-PROGRAM-DATE-TIME` (4.3.2.6) before a segment whose start's
 *   wall-clock time is known, in UTC with milliseconds.
 *
 * Low-latency HLS, when the playlist has a part target (the tags and
 * sections of draft-pantos-hls-rfc8216bis-17):
 *
 * - `#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=` three part
 *   targets (4.4.3.8: at least two, three advised): the server holds a
 *   playlist request with `_HLS_msn` and `_HLS_part` until that part is
 *   there (6.2.5.2).
 * - `#EXT-X-PART-INF:PART-TARGET=` the part target in seconds (4.4.3.7).
 * - `#EXT-X-PART:DURATION=…,URI="…"` (4.4.4.9) for each part of the newest
 *   segments, right before the segment's `#EXTINF`, with `INDEPENDENT=YES`
 *   on a part that starts with a key frame; then the parts of the segment
 *   being made, after the last `#EXTINF` (with its `#EXT-X-DISCONTINUITY`
 *   and `#EXT-X-PROGRAM-DATE-TIME` before them when it has them).
 * - `#EXT-X-PRELOAD-HINT:TYPE=PART,URI="…"` (4.4.5.3) for the next part,
 *   which the server holds until it is there, while the stream goes on.
 *
 * No `#EXT-X-PLAYLIST-TYPE`: a live window drops old segments, which
 * neither `EVENT` nor `VOD` allows. Pure: no `Deno.*`.
 *
 * @module
 */

/** What the playlist says about one segment. */
export interface PlaylistSegment {
  /** Its media sequence number (RFC 8216 3). */
  readonly sequence: number;
  /** How long it plays, in milliseconds. */
  readonly durationMs: number;
  /** Whether it follows a discontinuity: another time base or encoder than the segment before. */
  readonly discontinuity: boolean;
  /** The wall-clock time of its start, in ms since the epoch (`#EXT-X-PROGRAM-DATE-TIME`). */
  readonly programDateTimeMs?: number;
  /** Its parts, to list (low-latency HLS), oldest first, numbered from 0. */
  readonly parts?: readonly PlaylistPart[];
}

/** What the playlist says about a part of a segment (low-latency HLS). */
export interface PlaylistPart {
  /** How long it plays, in milliseconds. */
  readonly durationMs: number;
  /** Whether it starts with a key frame. */
  readonly independent: boolean;
}

/** The segment being made, whose finished parts a low-latency playlist lists. */
export interface PendingSegment {
  readonly discontinuity: boolean;
  readonly programDateTimeMs: number | undefined;
  readonly parts: readonly PlaylistPart[];
}

/** A live media playlist's state, as `HlsSegmenter.playlist()` reports it. */
export interface MediaPlaylist {
  /** The listed segments, oldest first, with consecutive sequence numbers from `mediaSequence`. */
  readonly segments: readonly PlaylistSegment[];
  /**
   * The least target duration, in milliseconds (rounded up to whole seconds).
   * Pass the same value, or a larger one, on every render of a playlist.
   */
  readonly targetDurationMs: number;
  /** The first listed segment's sequence number; while none is listed, the next one's. */
  readonly mediaSequence: number;
  /** How many segments with a discontinuity have left the window. */
  readonly discontinuitySequence: number;
  /** Whether the stream has ended: no segment will be added. */
  readonly ended: boolean;
  /** Low-latency HLS: the part target in milliseconds; absent, no part is listed. */
  readonly partTargetMs?: number;
  /**
   * Low-latency HLS: the segment being made (sequence `mediaSequence` +
   * the listed segments), whose parts come after the listed segments.
   */
  readonly pending?: PendingSegment;
}

/** `#EXTINF`'s duration: seconds with three decimals. */
export function extinfSeconds(durationMs: number): string {
  return (durationMs / 1000).toFixed(3);
}

/**
 * The `#EXT-X-TARGETDURATION` value for `playlist`, in seconds: the target
 * rounded up, raised to cover each segment's `#EXTINF` duration rounded to
 * the nearest integer (RFC 8216 4.3.3.1), and at least 1.
 */
export function targetDurationSeconds(
  playlist: Pick<MediaPlaylist, "segments" | "targetDurationMs">,
): number {
  let seconds = Math.max(1, Math.ceil(playlist.targetDurationMs / 1000));
  for (const { durationMs } of playlist.segments) {
    seconds = Math.max(seconds, roundedSeconds(durationMs));
  }
  return seconds;
}

/** A segment's `#EXTINF` duration as written, rounded to the nearest integer. */
export function roundedSeconds(durationMs: number): number {
  return Math.round(Number(extinfSeconds(durationMs)));
}

/** A time as `#EXT-X-PROGRAM-DATE-TIME` writes it: ISO 8601 in UTC, with milliseconds. */
export function programDateTime(ms: number): string {
  return new Date(ms).toISOString();
}

/**
 * The media playlist's text (LF line ends, one at the end). `uriOf` gives
 * each segment's URI, and with `part` that of its part, relative to the
 * playlist's or absolute. Throws a
 * RangeError when the segments do not follow each other from
 * `mediaSequence` or a number is out of range, and a TypeError for a URI
 * that is empty, starts with `#` or holds a line break or another control
 * character (RFC 8216 4.1).
 */
export function renderMediaPlaylist(
  playlist: MediaPlaylist,
  uriOf: (sequence: number, part?: number) => string,
): string {
  const { segments, targetDurationMs, mediaSequence, discontinuitySequence, ended } = playlist;
  const { partTargetMs, pending } = playlist;
  checkCount("media sequence", mediaSequence);
  checkCount("discontinuity sequence", discontinuitySequence);
  if (!(targetDurationMs > 0) || !Number.isFinite(targetDurationMs)) {
    throw new RangeError(
      `Cannot render a media playlist: target duration ${targetDurationMs} ms is not positive`,
    );
  }
  const lowLatency = partTargetMs !== undefined;
  if (lowLatency && (!(partTargetMs > 0) || !Number.isFinite(partTargetMs))) {
    throw new RangeError(
      `Cannot render a media playlist: part target ${partTargetMs} ms is not positive`,
    );
  }
  const checkedUri = (sequence: number, part?: number): string => {
    const uri = uriOf(sequence, part);
    // deno-lint-ignore no-control-regex
    if (uri === "" || uri.startsWith("#") || /[\u0000-\u001f\u007f-\u009f"]/.test(uri)) {
      const what = part === undefined
        ? `segment ${sequence}`
        : `part ${part} of segment ${sequence}`;
      throw new TypeError(
        `Cannot render a media playlist: ${what} has URI ${JSON.stringify(uri)}`,
      );
    }
    return uri;
  };
  const pushParts = (sequence: number, parts: readonly PlaylistPart[]): void => {
    parts.forEach(({ durationMs, independent }, index) => {
      checkDuration(`part ${index} of segment ${sequence}`, durationMs);
      lines.push(
        `#EXT-X-PART:DURATION=${extinfSeconds(durationMs)},` +
          `URI="${checkedUri(sequence, index)}"${independent ? ",INDEPENDENT=YES" : ""}`,
      );
    });
  };
  const lines = [
    "#EXTM3U",
    "#EXT-X-VERSION:3",
    `#EXT-X-TARGETDURATION:${targetDurationSeconds(playlist)}`,
  ];
  if (lowLatency) {
    lines.push(
      `#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=${
        extinfSeconds(3 * partTargetMs)
      }`,
      `#EXT-X-PART-INF:PART-TARGET=${extinfSeconds(partTargetMs)}`,
    );
  }
  lines.push(`#EXT-X-MEDIA-SEQUENCE:${mediaSequence}`);
  if (discontinuitySequence > 0) {
    lines.push(`#EXT-X-DISCONTINUITY-SEQUENCE:${discontinuitySequence}`);
  }
  segments.forEach(({ sequence, durationMs, discontinuity, programDateTimeMs, parts }, index) => {
    if (sequence !== mediaSequence + index) {
      throw new RangeError(
        `Cannot render a media playlist: segment ${index} has sequence ${sequence}, not ${
          mediaSequence + index
        }`,
      );
    }
    checkDuration(`segment ${sequence}`, durationMs);
    const uri = checkedUri(sequence);
    if (discontinuity) lines.push("#EXT-X-DISCONTINUITY");
    if (programDateTimeMs !== undefined) {
      lines.push(`#EXT-X-PROGRAM-DATE-TIME:${programDateTime(programDateTimeMs)}`);
    }
    if (lowLatency && parts !== undefined) pushParts(sequence, parts);
    lines.push(`#EXTINF:${extinfSeconds(durationMs)},`, uri);
  });
  if (lowLatency && pending !== undefined && !ended) {
    const sequence = mediaSequence + segments.length;
    if (pending.parts.length > 0) {
      if (pending.discontinuity) lines.push("#EXT-X-DISCONTINUITY");
      if (pending.programDateTimeMs !== undefined) {
        lines.push(`#EXT-X-PROGRAM-DATE-TIME:${programDateTime(pending.programDateTimeMs)}`);
      }
      pushParts(sequence, pending.parts);
    }
    lines.push(
      `#EXT-X-PRELOAD-HINT:TYPE=PART,URI="${checkedUri(sequence, pending.parts.length)}"`,
    );
  }
  if (ended) lines.push("#EXT-X-ENDLIST");
  return lines.join("\n") + "\n";
}

function checkDuration(what: string, durationMs: number): void {
  if (!(durationMs >= 0) || !Number.isFinite(durationMs)) {
    throw new RangeError(`Cannot render a media playlist: ${what} lasts ${durationMs} ms`);
  }
}

function checkCount(what: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`Cannot render a media playlist: ${what} ${value} is not a count`);
  }
}
