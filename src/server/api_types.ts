/**
 * What the HTTP API answers, as types (and the list of drop reasons): `GET /api/connections`,
 * `GET /api/streams` and `GET /api/stats`. Tests, the bench and embedders
 * read the API through these, so a change to a response shows up as a type
 * error wherever it is read.
 *
 * @module
 */

import type { DatagramKind } from "../protocol/classify.ts";
import type { CloseReason, LinkStats, StreamMode, ViewerStats } from "../ipc/messages.ts";
import type { TrackInfo } from "../media/track_info.ts";

export type { TrackInfo };
import { type Refusal, REFUSALS } from "./connection_table.ts";

/** One SRT connection as the API shows it, with its latest link statistics. */
export interface ConnectionInfo extends LinkStats {
  id: string;
  pid: number;
  peer: string;
  streamId: string | null;
  /** The stream published or played, once the server accepted the request. */
  stream: string | null;
  mode: StreamMode;
  state: "handshaking" | "connected";
  /**
   * A viewer held until its stream has a publisher (`playWaitMs`): its
   * handshake is not answered yet, so its `state` is `handshaking`.
   */
  waiting: boolean;
  encrypted: boolean;
  startedAt: string;
  connectedAt: string | null;
  /**
   * Milliseconds from the main process handing the peer to a child (its first
   * handshake datagram) to the accepted SRT connection, including any wait
   * for the child to start.
   */
  handshakeMs: number | null;
  /** For a viewer: skips and server-added latency; null for a publisher or before the first report. */
  viewer: ViewerStats | null;
  /** Its child's CPU use over the last second, in % of one core; null until sampled twice. */
  cpuPercent: number | null;
  /** Its child's `Private_Dirty` (smaps_rollup), in bytes, read every 5 s; null until read. */
  privateDirtyBytes: number | null;
  /** Its child's `Pss` (smaps_rollup), in bytes, read every 5 s; null until read. */
  pssBytes: number | null;
  /**
   * Set when Atoll called out for a relay (`peer` is then the remote): the
   * relay's id, which way the media goes, the remote's URL (passphrase
   * hidden), the relay's state and its failed attempts in a row.
   */
  relay: RelayConnectionInfo | null;
}

/** A relay's side of a connection, in {@link ConnectionInfo}. */
export interface RelayConnectionInfo {
  id: string;
  direction: "pull" | "push";
  url: string;
  state: string;
  retries: number;
}

/** A stream as the stream manager knows it: its connections and its buffer's counters. */
export interface StreamState {
  name: string;
  publisher: string | null;
  viewers: number;
  waiting: number;
  bytesIn: number;
  bitrateIn: number;
  /** Bytes publishers sent that were not whole MPEG-TS packets: discarded, never passed on. */
  bytesDiscarded: number;
  randomAccessPoints: number;
  viewerSkips: number;
  /** The current publisher's tracks, from its PMT, SPS and audio headers; empty until known. */
  tracks: TrackInfo[];
}

/** A stream's HTTP-TS and HLS clients, as the media output process reports them. */
export interface HttpStreamInfo {
  /** HTTP-TS clients connected now. */
  clients: number;
  /** Bytes sent to them since the stream began (over every output process). */
  bytesSent: number;
  /** Times one of them fell behind and skipped ahead, since the stream began. */
  skips: number;
  /**
   * Distinct client addresses (IP, not port: clients behind one NAT count
   * once) that fetched its HLS playlist or a segment in the last 30 s.
   */
  hlsClients: number;
  /** HLS segments made of it since it began (over every output process). */
  hlsSegments: number;
  /** Bytes of HLS playlists and segments sent since it began (headers not counted). */
  hlsBytesSent: number;
}

/** Where a stream is served over HTTP. */
export interface MediaUrls {
  /** HTTP-TS. */
  ts: string;
  /** HLS: its media playlist. */
  hls: string;
}

/** What `POST /api/streams/NAME/media-url` answers. */
export interface SignedMediaUrls extends MediaUrls {
  /** Unix seconds the URLs are good until; null when the stream needs no signature. */
  expires: number | null;
}

/** A stream as `GET /api/streams` shows it. */
export interface StreamInfo extends StreamState {
  /** Its HTTP-TS clients; null without a media output (`--media-listen off`). */
  http: HttpStreamInfo | null;
  /** Its URLs on the media port; null without a media output. */
  urls: MediaUrls | null;
  /** Its recording; null when its rules do not record it. */
  recording: RecordingInfo | null;
}

/** A stream's recording, in {@link StreamInfo}. */
export interface RecordingInfo {
  /**
   * `recording`: its recorder runs; `stopped`: its recorder died and starts
   * again soon; `failed`: it stopped by itself (see `reason`) and is not
   * started again until a reload changes its rule or the stream begins again.
   */
  state: "recording" | "stopped" | "failed";
  /** The record directory. */
  dir: string;
  /** The file being written (its name in `dir`); null between files. */
  file: string | null;
  /** Bytes written since the stream began (over every recorder). */
  bytesWritten: number;
  /** Files started since the stream began. */
  files: number;
  /** Why it failed: `disk-full`, `write-error` or `no-directory`. */
  reason?: string;
}

/** One file of `GET /api/recordings`. */
export interface RecordingFileInfo {
  stream: string;
  /** Its name in `dir`. */
  file: string;
  dir: string;
  bytes: number;
  /** When it was started (from its name), ISO 8601. */
  startedAt: string;
  /** Whether a recorder writes it now. */
  writing: boolean;
  /** Where to download it from the media port (with the API token); null without a media output. */
  url: string | null;
}

/** `GET /api/recordings`. */
export interface RecordingList {
  /** Whether files can be downloaded: only from the media output (not with `--media-listen off`). */
  downloads: boolean;
  /** Every recording file in the record directories of the rules in use, oldest first. */
  files: RecordingFileInfo[];
}

/**
 * Why a datagram was not turned into a connection. A caller refused for
 * one of {@link REFUSED_AT_ONCE} is answered with a rejection.
 */
export type DropReason =
  | "not-connection-start"
  | "peer-has-child"
  | "shutting-down"
  | "handoff-failed"
  | "bad-cookie"
  | "induction-rate"
  | "rejection-backoff"
  /** Backing off, with the interval ending soon: dropped without an answer. */
  | "rejection-backoff-held"
  /** No child could be ready before a default caller's connect timeout. */
  | "shed"
  /** A caller waiting for a child fell silent: it gave up. */
  | "caller-gone"
  /**
   * A handshake from a caller refused in the last 3 s: a stale
   * retransmission of one that has given up, answered with the rejection
   * again and never admitted.
   */
  | "already-refused"
  | Refusal;

/** The refusals the main process answers itself, with an SRT rejection. */
export const REFUSED_AT_ONCE: readonly DropReason[] = [
  "shutting-down",
  "handoff-failed",
  "rejection-backoff",
  "shed",
  "already-refused",
  ...REFUSALS,
];

export const DROP_REASONS: readonly DropReason[] = [
  "not-connection-start",
  "peer-has-child",
  "shutting-down",
  "handoff-failed",
  "bad-cookie",
  "induction-rate",
  "rejection-backoff",
  "rejection-backoff-held",
  "shed",
  "caller-gone",
  "already-refused",
  ...REFUSALS,
];

/** Counters since start. */
export interface ServerCounters {
  datagrams: Record<DatagramKind, number>;
  dropped: Record<DropReason, number>;
  /** Inductions the main process answered itself, with its own cookie. */
  inductionsAnswered: number;
  /** Callers the main process refused itself, with an SRT rejection (code 1402 or 1503). */
  callersRejected: number;
  childrenStarted: number;
  childrenCrashed: number;
  connectionsAccepted: number;
  connectionsClosed: Record<CloseReason | "crashed", number>;
}

/** `GET /api/stats`: the counters, and the state of the child pool. */
export interface ServerStats extends ServerCounters {
  srtVersion: number;
  fastHandshake: boolean;
  /** Prestarted children ready for a connection. */
  idleChildren: number;
  /** Prestarted children still starting up. */
  startingChildren: number;
  /** Idle children the pool keeps now: `--pool-size`, more after bursts (up to `--pool-max`). */
  poolFloor: number;
  /** Callers admitted and waiting for a child, first in, first out. */
  waitingCallers: number;
  /** How long the caller waiting longest has waited, in ms. */
  longestWaitMs: number;
  /** Moving average of the children's start time (spawn to ready), in ms. */
  childStartMs: number;
  /**
   * The ms between two children becoming ready over the last second, the
   * pace waiting callers are served at; null when fewer than four became
   * ready in it.
   */
  childReadyPaceMs: number | null;
  connections: number;
  /** The main process's own memory (`Deno.memoryUsage()`), in bytes: it carries no media. */
  mainMemory: { rssBytes: number; heapUsedBytes: number; heapTotalBytes: number };
}
