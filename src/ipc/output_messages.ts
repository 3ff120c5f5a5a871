/**
 * Messages between the main process and the media output process (src/output/),
 * which serves the streams over HTTP from their buffers.
 *
 * Two channels, as with the SRT children (messages.ts):
 * - the Unix socket pair carries {@link OutputCommand}s, one JSON object a
 *   message; a `stream` command carries the stream buffer's memfd
 *   (SCM_RIGHTS). The first command is always `settings`. When the main
 *   process is gone the pair closes, and the output process stops;
 * - the output process's stdout carries {@link OutputReport}s, one JSON
 *   object a line.
 *
 * Everything that crosses is validated where it arrives.
 *
 * @module
 */

import { invalid, isCount, isObject, parseJson } from "./json.ts";
import { isStreamName } from "../protocol/stream_id.ts";
import { type Endpoint, isEndpoint, type LogLevelName } from "./messages.ts";

/** How the output process listens and limits its clients; from the server's options. */
export interface OutputSettings {
  /** Where to listen (`--media-listen`): the bound port once known, so a restart keeps it. */
  listen: Endpoint;
  /** HTTP media connections open at once; more are answered 503 and closed. */
  maxConnections: number;
  /** A request must arrive whole within this long. */
  headerTimeoutMs: number;
  /** `Host` names answered besides loopback and the bound address; `*`: any. */
  allowedHosts: string[];
}

/** The range of a stream's HLS target duration (`hlsSegmentMs`), in milliseconds. */
export const HLS_SEGMENT_MS = { min: 1000, max: 10_000 } as const;
/** The range of a stream's HLS window (`hlsWindow`), in segments. */
export const HLS_WINDOW = { min: 3, max: 30 } as const;

/** The range of a stream's HLS part target (`hlsPartMs`) when not 0, in milliseconds. */
export const HLS_PART_MS = { min: 200, max: 5000 } as const;

/**
 * How one stream is packaged for HLS: its rules `hls`, `hlsSegmentMs`,
 * `hlsWindow` and `hlsPartMs`.
 */
export interface HlsRules {
  /** Segments are made while someone watches over HLS (`on-demand`), or all the time. */
  mode: "on-demand" | "always";
  /** The segments' target duration, in milliseconds. */
  segmentMs: number;
  /** Segments the playlist lists at least. */
  window: number;
  /** Low-latency HLS: the parts' target duration in ms, at most half `segmentMs`; 0: no parts. */
  partMs: number;
}

/** The rules of a stream that the config file sets none for. */
export const DEFAULT_HLS_RULES: HlsRules = Object.freeze({
  mode: "on-demand",
  segmentMs: 2000,
  window: 6,
  partMs: 400,
});

/** Which HTTP media a playback session asks for. */
export type MediaProtocol = "hls" | "http-ts";

/**
 * A playback session's start, as the output process asks the main process
 * about it (src/server/media_access.ts decides).
 */
export interface MediaAccessRequest {
  stream: string;
  protocol: MediaProtocol;
  /** The client's address, `host:port`. */
  peer: string;
  /** The request's query after `?`, as given (`expires=…&sig=…`, or the hook's own keys); "" when none. */
  query: string;
  /** The token of an `Authorization: Bearer TOKEN` header; null when none. */
  bearer: string | null;
}

/** The main process's answer; the output process keeps it for `ttlMs`. */
export type MediaAccessAnswer =
  | { allowed: true; ttlMs: number }
  | { allowed: false; status: 401 | 403; message: string; ttlMs: number };

/**
 * How often, at most, the output process reports its clients' figures while
 * they change; the main process counts on a new client being reported
 * within it (relays it pulls for HTTP viewers, src/server/http_demand.ts).
 */
export const OUTPUT_STATS_INTERVAL_MS = 2000;

/** The longest query or bearer token that crosses; longer ones are refused in the output process. */
export const MAX_ACCESS_TEXT = 2048;
/** The longest any answer may be kept. */
export const MAX_ACCESS_TTL_MS = 60_000;

/** Main → output, over the socket pair. */
export type OutputCommand =
  /** Always first. */
  | { type: "settings"; settings: OutputSettings }
  /** A stream's buffer, attached: serve it (replaces an earlier one of that name). */
  | { type: "stream"; name: string; bufferBytes: number; hls: HlsRules }
  /** A config reload changed a served stream's HLS rules. */
  | { type: "stream-rules"; name: string; hls: HlsRules }
  /** The stream ended: its clients' responses end, and its buffer is let go. */
  | { type: "stream-ended"; name: string }
  /**
   * Who may download recordings (the API token; null: nobody), and the
   * record directories they are in; again after each reload.
   */
  | { type: "recordings"; token: string | null; dirs: string[] }
  /**
   * How long to wait for an access answer; also sent after each reload,
   * and then every kept answer is dropped (the rules may have changed).
   */
  | { type: "access-rules"; waitMs: number }
  /** The answer to the `access-request` with this `id`. */
  | { type: "access-answer"; id: number; answer: MediaAccessAnswer }
  /**
   * The answer to the `demand` with this `id`: how long its requests wait
   * for the stream to begin (a pull of it is starting); 0 when nothing will
   * pull it, and they are answered as for any stream it does not have.
   */
  | { type: "demand-answer"; id: number; waitMs: number }
  /** Stop cleanly: close the port and every client, then exit. */
  | { type: "shutdown" };

/** What the output process counts of one stream's HTTP-TS clients, since it started. */
export interface OutputStreamStats {
  name: string;
  /** HTTP-TS clients connected now. */
  clients: number;
  /** Bytes written to them (headers not counted). */
  bytesSent: number;
  /** Times one of them fell behind the buffer and skipped ahead. */
  skips: number;
  /** Distinct client addresses that fetched its HLS playlist or a segment in the last 30 s. */
  hlsClients: number;
  /** HLS segments made of it. */
  hlsSegments: number;
  /** Bytes of HLS playlists and segments sent (headers not counted). */
  hlsBytesSent: number;
}

/** Output → main, on stdout. */
export type OutputReport =
  /** It listens, on this address (the bound port when 0 was asked for). */
  | { type: "listening"; address: Endpoint }
  /** It cannot listen; it exits next. */
  | { type: "listen-failed"; detail: string }
  /**
   * Every stream it serves, and the requests it refused at once for their
   * client's rate of access asks (src/output/access.ts) since it started,
   * by protocol; when any figure changed (every 2 s at most).
   */
  | { type: "stats"; streams: OutputStreamStats[]; rateLimited: Record<MediaProtocol, number> }
  /** May this playback session start? Answered with an `access-answer` of the same `id`. */
  | { type: "access-request"; id: number; request: MediaAccessRequest }
  /**
   * An allowed request asks for stream `stream`, which it has no buffer of:
   * may a pull start it? Answered with a `demand-answer` of the same `id`.
   */
  | { type: "demand"; id: number; stream: string }
  | { type: "log"; level: LogLevelName; message: string };

/** The longest wait a `demand-answer` may give: the longest `playWaitMs`. */
export const MAX_DEMAND_WAIT_MS = 600_000;

/** At most this many streams cross in one report; the bound keeps a bad process small. */
export const MAX_REPORTED_STREAMS = 100_000;

function isSettings(value: unknown): value is OutputSettings {
  return isObject(value) && isEndpoint(value.listen) && value.listen.hostname !== "" &&
    Number.isInteger(value.maxConnections) && (value.maxConnections as number) > 0 &&
    Number.isInteger(value.headerTimeoutMs) && (value.headerTimeoutMs as number) > 0 &&
    Array.isArray(value.allowedHosts) &&
    value.allowedHosts.every((host) => typeof host === "string");
}

function isStreamStats(value: unknown): value is OutputStreamStats {
  return isObject(value) && typeof value.name === "string" && isStreamName(value.name) &&
    isCount(value.clients) && isCount(value.bytesSent) &&
    isCount(value.skips) && isCount(value.hlsClients) && isCount(value.hlsSegments) &&
    isCount(value.hlsBytesSent);
}

function isInRange(value: unknown, range: { min: number; max: number }): boolean {
  return Number.isInteger(value) && (value as number) >= range.min &&
    (value as number) <= range.max;
}

function isHlsRules(value: unknown): value is HlsRules {
  return isObject(value) && (value.mode === "on-demand" || value.mode === "always") &&
    isInRange(value.segmentMs, HLS_SEGMENT_MS) && isInRange(value.window, HLS_WINDOW) &&
    (value.partMs === 0 ||
      (isInRange(value.partMs, HLS_PART_MS) &&
        (value.partMs as number) <= (value.segmentMs as number) / 2));
}

function isAccessRequest(value: unknown): value is MediaAccessRequest {
  return isObject(value) && typeof value.stream === "string" && isStreamName(value.stream) &&
    (value.protocol === "hls" || value.protocol === "http-ts") &&
    typeof value.peer === "string" && value.peer.length <= 64 &&
    typeof value.query === "string" && value.query.length <= MAX_ACCESS_TEXT &&
    (value.bearer === null ||
      (typeof value.bearer === "string" && value.bearer.length <= MAX_ACCESS_TEXT));
}

function isAccessAnswer(value: unknown): value is MediaAccessAnswer {
  if (!isObject(value) || !isInRange(value.ttlMs, { min: 0, max: MAX_ACCESS_TTL_MS })) {
    return false;
  }
  if (value.allowed === true) return true;
  return value.allowed === false && (value.status === 401 || value.status === 403) &&
    typeof value.message === "string";
}

/** Parses one command the output process read from its socket pair; throws TypeError when invalid. */
export function parseOutputCommand(text: string): OutputCommand {
  const value = parseJson(text, "output command");
  const ok = (() => {
    switch (value.type) {
      case "settings":
        return isSettings(value.settings);
      case "stream":
        return typeof value.name === "string" && isStreamName(value.name) &&
          Number.isInteger(value.bufferBytes) && (value.bufferBytes as number) > 0 &&
          isHlsRules(value.hls);
      case "stream-rules":
        return typeof value.name === "string" && isStreamName(value.name) &&
          isHlsRules(value.hls);
      case "stream-ended":
        return typeof value.name === "string" && isStreamName(value.name);
      case "recordings":
        return (value.token === null || typeof value.token === "string") &&
          Array.isArray(value.dirs) &&
          value.dirs.every((dir) => typeof dir === "string" && dir.startsWith("/"));
      case "access-rules":
        return isInRange(value.waitMs, { min: 1, max: 120_000 });
      case "access-answer":
        return isCount(value.id) && isAccessAnswer(value.answer);
      case "demand-answer":
        return isCount(value.id) && isInRange(value.waitMs, { min: 0, max: MAX_DEMAND_WAIT_MS });
      case "shutdown":
        return true;
      default:
        return false;
    }
  })();
  if (!ok) throw invalid("output command", value);
  return value as unknown as OutputCommand;
}

/** Parses one line the output process wrote; throws TypeError when it is not a valid report. */
export function parseOutputReport(line: string): OutputReport {
  const value = parseJson(line, "output report");
  const ok = (() => {
    switch (value.type) {
      case "listening":
        return isEndpoint(value.address);
      case "listen-failed":
        return typeof value.detail === "string";
      case "stats":
        return Array.isArray(value.streams) && value.streams.length <= MAX_REPORTED_STREAMS &&
          value.streams.every(isStreamStats) && isObject(value.rateLimited) &&
          isCount(value.rateLimited.hls) && isCount(value.rateLimited["http-ts"]);
      case "access-request":
        return isCount(value.id) && isAccessRequest(value.request);
      case "demand":
        return isCount(value.id) && typeof value.stream === "string" &&
          isStreamName(value.stream);
      case "log":
        return ["debug", "info", "warning", "error"].includes(value.level as string) &&
          typeof value.message === "string";
      default:
        return false;
    }
  })();
  if (!ok) throw invalid("output report", value);
  return value as unknown as OutputReport;
}
