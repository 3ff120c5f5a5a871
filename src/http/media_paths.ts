/**
 * Where the media output serves a stream: `/NAME.ts` (HTTP-TS),
 * `/NAME/index.m3u8` (its HLS media playlist) and `/NAME/seg,N.ts` (HLS
 * segment N), with the stream's name as it is, `/` and all (`live/cam1` →
 * `/live/cam1.ts`). A segment's path holds a `,`, which no stream name
 * does (src/protocol/stream_id.ts), so it never names a stream's HTTP-TS.
 * The output process routes requests with {@link routeMediaPath}; the main
 * process lists each stream's URLs with {@link mediaPaths}. Pure.
 *
 * @module
 */

import { isStreamName } from "../protocol/stream_id.ts";

/** What a request path on the media port names. */
export type MediaRoute =
  | { kind: "ts"; name: string }
  | { kind: "hls"; name: string }
  | { kind: "segment"; name: string; sequence: number };

const TS_SUFFIX = ".ts";
const HLS_SUFFIX = "/index.m3u8";
/** A segment's path after the stream's name: `/seg,42.ts`. */
const SEGMENT_PATH = /\/seg,(0|[1-9][0-9]{0,15})\.ts$/;

/** The paths of stream `name`'s media. */
export function mediaPaths(name: string): { ts: string; hls: string } {
  return { ts: `/${name}${TS_SUFFIX}`, hls: `/${name}${HLS_SUFFIX}` };
}

/** Segment `sequence`'s URI as the playlist lists it: relative to the playlist's. */
export function segmentUri(sequence: number): string {
  return `seg,${sequence}.ts`;
}

/**
 * The stream and kind of media a request target names (its query is
 * ignored, `%`-escapes are decoded), or undefined when it names none.
 */
export function routeMediaPath(target: string): MediaRoute | undefined {
  const end = target.search(/[?#]/);
  let path: string;
  try {
    path = decodeURIComponent(end < 0 ? target : target.slice(0, end));
  } catch {
    return undefined;
  }
  if (!path.startsWith("/")) return undefined;
  const segment = SEGMENT_PATH.exec(path);
  if (segment !== null) {
    const name = path.slice(1, segment.index);
    const sequence = Number(segment[1]);
    return isStreamName(name) && Number.isSafeInteger(sequence)
      ? { kind: "segment", name, sequence }
      : undefined;
  }
  const route = (kind: "ts" | "hls", suffix: string): MediaRoute | undefined => {
    const name = path.slice(1, -suffix.length);
    return path.endsWith(suffix) && isStreamName(name) ? { kind, name } : undefined;
  };
  return route("hls", HLS_SUFFIX) ?? route("ts", TS_SUFFIX);
}
