/**
 * Where the media output serves a stream: `/NAME.ts` (HTTP-TS),
 * `/NAME/index.m3u8` (its HLS media playlist), `/NAME/seg,N.ts` (HLS
 * segment N) and `/NAME/part,N.K.ts` (part K of segment N, low-latency
 * HLS), with the stream's name as it is, `/` and all (`live/cam1` →
 * `/live/cam1.ts`). A segment's or part's path holds a `,`, which no stream name
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
  | { kind: "segment"; name: string; sequence: number }
  | { kind: "part"; name: string; sequence: number; part: number };

const TS_SUFFIX = ".ts";
const HLS_SUFFIX = "/index.m3u8";
/** A segment's path after the stream's name: `/seg,42.ts`. */
const SEGMENT_PATH = /\/seg,(0|[1-9][0-9]{0,15})\.ts$/;
/** A part's path after the stream's name: `/part,42.3.ts`. */
const PART_PATH = /\/part,(0|[1-9][0-9]{0,15})\.(0|[1-9][0-9]{0,5})\.ts$/;

/** The paths of stream `name`'s media. */
export function mediaPaths(name: string): { ts: string; hls: string } {
  return { ts: `/${name}${TS_SUFFIX}`, hls: `/${name}${HLS_SUFFIX}` };
}

/** Segment `sequence`'s URI as the playlist lists it: relative to the playlist's. */
export function segmentUri(sequence: number): string {
  return `seg,${sequence}.ts`;
}

/** Part `part` of segment `sequence`'s URI as the playlist lists it. */
export function partUri(sequence: number, part: number): string {
  return `part,${sequence}.${part}.ts`;
}

/** A blocking playlist reload's delivery directives: `_HLS_msn` and `_HLS_part`. */
export interface BlockingReload {
  msn: number;
  part?: number;
}

const DIRECTIVE_NUMBER = /^(0|[1-9][0-9]{0,15})$/;

/**
 * Splits the delivery directives (`_HLS_` parameters,
 * draft-pantos-hls-rfc8216bis-17 6.2.5) from the rest of a request's query:
 * the rest is the request's credential, as given when it has no directive,
 * else normalized. `_HLS_skip` is dropped (no delta playlists here). A
 * directive that is not a count, or `_HLS_part` without `_HLS_msn`, is an
 * error (the server answers 400).
 */
export function splitDeliveryDirectives(
  query: string,
): { query: string; block?: BlockingReload } | { error: string } {
  if (!query.includes("_HLS_")) return { query };
  const params = new URLSearchParams(query);
  const msn = params.get("_HLS_msn");
  const part = params.get("_HLS_part");
  for (const key of [...params.keys()]) if (key.startsWith("_HLS_")) params.delete(key);
  const rest = params.toString();
  if (msn === null && part === null) return { query: rest };
  if (msn === null) return { error: "_HLS_part needs _HLS_msn" };
  for (const [name, value] of [["_HLS_msn", msn], ["_HLS_part", part]] as const) {
    if (value !== null && !DIRECTIVE_NUMBER.test(value)) {
      return { error: `${name} must be a whole number, not ${JSON.stringify(value.slice(0, 32))}` };
    }
  }
  const block: BlockingReload = part === null
    ? { msn: Number(msn) }
    : { msn: Number(msn), part: Number(part) };
  return { query: rest, block };
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
  const part = PART_PATH.exec(path);
  if (part !== null) {
    const name = path.slice(1, part.index);
    const sequence = Number(part[1]);
    return isStreamName(name) && Number.isSafeInteger(sequence)
      ? { kind: "part", name, sequence, part: Number(part[2]) }
      : undefined;
  }
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
