/**
 * Where the media output serves a stream: `/NAME.ts` (HTTP-TS) and
 * `/NAME/index.m3u8` (HLS), with the stream's name as it is, `/` and all
 * (`live/cam1` → `/live/cam1.ts`). The output process routes requests with
 * {@link routeMediaPath}; the main process lists each stream's URLs with
 * {@link mediaPaths}. Pure.
 *
 * @module
 */

import { isStreamName } from "../protocol/stream_id.ts";

/** What a request path on the media port names. */
export type MediaRoute =
  | { kind: "ts"; name: string }
  | { kind: "hls"; name: string };

const TS_SUFFIX = ".ts";
const HLS_SUFFIX = "/index.m3u8";

/** The paths of stream `name`'s media. */
export function mediaPaths(name: string): { ts: string; hls: string } {
  return { ts: `/${name}${TS_SUFFIX}`, hls: `/${name}${HLS_SUFFIX}` };
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
  const route = (kind: MediaRoute["kind"], suffix: string): MediaRoute | undefined => {
    const name = path.slice(1, -suffix.length);
    return path.endsWith(suffix) && isStreamName(name) ? { kind, name } : undefined;
  };
  return route("hls", HLS_SUFFIX) ?? route("ts", TS_SUFFIX);
}
