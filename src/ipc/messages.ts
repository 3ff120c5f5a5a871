/**
 * Messages between the main process and a peer child.
 *
 * Three channels, each for what it does best:
 * - the Unix socket pair carries one {@link Assignment} with the connected
 *   UDP socket attached (SCM_RIGHTS), so a child started ahead of time can
 *   be handed a connection later, and then the {@link AccessDecision} on the
 *   child's {@link ChildMessage} `request`, with the stream buffer attached;
 *   the child reads it synchronously inside libsrt's listen callback. A
 *   relay child is given a {@link RelayAssignment} instead, with no fd, and
 *   then its decision, unasked;
 * - the child's stdin carries {@link ParentMessage}s, one JSON object a line;
 * - the child's stdout carries {@link ChildMessage}s, one JSON object a line.
 *
 * Everything that crosses is validated where it arrives.
 *
 * @module
 */

import { invalid, isObject, type Json, parseJson } from "./json.ts";
import type { SrtUrl } from "../protocol/srt_url.ts";
import type { LatencySummary } from "../media/latency_histogram.ts";
import type { TrackInfo } from "../media/track_info.ts";

export interface Endpoint {
  hostname: string;
  port: number;
}

/** How a child sets up its libsrt listener; from the server's options. */
export interface PeerSettings {
  latencyMs: number;
  passphrase?: string;
  pbkeylen: 0 | 16 | 24 | 32;
  idleTimeoutMs: number;
  handshakeTimeoutMs: number;
  /** Send the induction response from the child (docs/design.md, "The fast path"). */
  fastHandshake: boolean;
  /** How long the child waits for the main process to decide on its caller. */
  decisionTimeoutMs: number;
  /**
   * The main process's state directory: connected, the child outlives its
   * main process and waits there to be adopted (src/ipc/adoption.ts).
   * Without it, a child whose main process is gone closes its connection.
   */
  stateDir?: string;
}

/** The one connection a child serves, sent with its UDP socket. */
export interface Assignment {
  type: "assign";
  connectionId: string;
  /** The public address the socket is bound to. */
  local: Endpoint;
  peer: Endpoint;
  /** The caller's first handshake datagram, hex. */
  handshake: string;
  rendezvous: boolean;
  settings: PeerSettings;
}

/**
 * Where a relay child calls out to, and how: from a stream rule's `source`
 * (pull) or one of its `push` URLs (src/protocol/srt_url.ts). The main
 * process resolves the host name first, so `hostname` is an IP address.
 */
export type RelayRemote =
  & Pick<SrtUrl, "hostname" | "port" | "streamId" | "passphrase" | "pbkeylen" | "latencyMs">
  & {
    /** The URL as the rule wrote it, passphrase hidden: for logs and the API. */
    url: string;
    /** How long one connection attempt may take (SRTO_CONNTIMEO). */
    connectTimeoutMs: number;
    /** Rendezvous instead of caller: both sides connect, this side from `localPort`. */
    rendezvous?: { localPort: number };
  };

/**
 * The one relay a child runs, instead of an {@link Assignment}: sent on the
 * socket pair with no fd. The child then waits for its {@link AccessDecision}
 * on the same socket (an accept carries the stream buffer), connects to the
 * remote, reports `connected` (mode `publish` for a pull, `play` for a push)
 * and carries the media with the same loops as a listening peer: a pull
 * writes what it receives into the buffer, a push sends from the buffer.
 */
export interface RelayAssignment {
  type: "relay";
  connectionId: string;
  direction: RelayDirection;
  remote: RelayRemote;
  settings: PeerSettings;
}

export type RelayDirection = "pull" | "push";

/** Parent → child, on stdin: close the connection cleanly, saying why. */
export type ParentMessage = { type: "shutdown"; detail?: string };

/**
 * Parent → child over the socket pair: the answer to a `request`. An
 * accepted one carries the stream buffer's fd (SCM_RIGHTS).
 */
export type AccessDecision =
  | {
    type: "accept";
    stream: string;
    mode: StreamMode;
    /** Set on the connection in the listen callback: this stream's passphrase for this mode. */
    passphrase?: string;
    latencyMs?: number;
    /** Size of the mapped stream buffer, in bytes. */
    bufferBytes: number;
  }
  | { type: "reject"; code: number; reason: string };

/**
 * Link statistics a child reports (from srt_bstats, see `ffi/structs.ts`).
 * Counters are totals since the connection began, both directions summed
 * where libsrt counts a sender and a receiver side; rates and RTT are
 * libsrt's moving estimates; buffers and the flow window are current.
 */
export interface LinkStats {
  bytesReceived: number;
  bytesSent: number;
  packetsReceived: number;
  packetsSent: number;
  /** Lost on the way in (found missing) plus on the way out (reported by the peer). */
  packetsLost: number;
  packetsRetransmitted: number;
  /** Dropped as too late, to send or to play. */
  packetsDropped: number;
  /** Received after their time to play had passed, and ignored. */
  packetsBelated: number;
  rttMs: number;
  mbpsReceiveRate: number;
  mbpsSendRate: number;
  /** libsrt's estimate of the link's bandwidth. */
  mbpsBandwidth: number;
  /** Sent and not yet acknowledged. */
  sendBufferPackets: number;
  /** The time span of the unacknowledged packets. */
  sendBufferMs: number;
  /** Received and not yet delivered to the application (waiting for their play time). */
  receiveBufferPackets: number;
  receiveBufferMs: number;
  /** The peer's free receive buffer, as it last acknowledged, in packets. */
  flowWindowPackets: number;
}

export type StreamMode = "publish" | "play";

/** What a viewer's child measures of its stream, since it connected. */
export interface ViewerStats {
  /** Times it fell behind the buffer and jumped to the newest random-access point. */
  skips: number;
  /** Server-added latency: publisher's child received → this child sent, per message. */
  latency: LatencySummary;
}

/** Why a connection ended. */
export type CloseReason =
  | "peer-closed"
  | "broken"
  | "handshake-timeout"
  | "rejected"
  | "shutdown"
  | "error";

export const CLOSE_REASONS: readonly CloseReason[] = [
  "peer-closed",
  "broken",
  "handshake-timeout",
  "rejected",
  "shutdown",
  "error",
];

export type LogLevelName = "debug" | "info" | "warning" | "error";

/** Child → parent, on stdout. */
export type ChildMessage =
  | { type: "ready"; srtVersion: number }
  /** From inside the listen callback: may this caller publish or play? */
  | { type: "request"; streamId: string }
  | {
    type: "connected";
    streamId: string;
    mode: StreamMode;
    encrypted: boolean;
    /** From the child receiving the connection to libsrt accepting it; a relay's connect. */
    handshakeMs: number;
  }
  /** Every second; a viewer adds what it measured of the stream (see {@link ViewerStats}). */
  | { type: "stats"; stats: LinkStats; viewer?: ViewerStats }
  | { type: "log"; level: LogLevelName; message: string }
  /** A publisher's child, when what it knows of the stream's tracks changes. */
  | { type: "tracks"; tracks: TrackInfo[] }
  | { type: "closed"; reason: CloseReason; detail: string; stats: LinkStats | null }
  | { type: "self-test"; passed: boolean; setupMs: number; detail: string };

/** Every {@link LinkStats} key: the `Record` fails to compile when one is missing or unknown. */
const LINK_STATS_KEYS = Object.keys(
  {
    bytesReceived: true,
    bytesSent: true,
    packetsReceived: true,
    packetsSent: true,
    packetsLost: true,
    packetsRetransmitted: true,
    packetsDropped: true,
    packetsBelated: true,
    rttMs: true,
    mbpsReceiveRate: true,
    mbpsSendRate: true,
    mbpsBandwidth: true,
    sendBufferPackets: true,
    sendBufferMs: true,
    receiveBufferPackets: true,
    receiveBufferMs: true,
    flowWindowPackets: true,
  } satisfies Record<keyof LinkStats, true>,
) as (keyof LinkStats)[];

export function emptyLinkStats(): LinkStats {
  return Object.fromEntries(LINK_STATS_KEYS.map((key) => [key, 0])) as unknown as LinkStats;
}

/** Whether `value` is an {@link Endpoint}: a hostname and a port. */
export function isEndpoint(value: unknown): value is Endpoint {
  return isObject(value) && typeof value.hostname === "string" &&
    Number.isInteger(value.port) && (value.port as number) >= 0 && (value.port as number) <= 65535;
}

/** Whether `value` holds every {@link LinkStats} figure, each a finite number. */
export function isLinkStats(value: unknown): value is LinkStats {
  return isObject(value) && LINK_STATS_KEYS.every((key) => Number.isFinite(value[key]));
}

/** Whether `value` is a viewer's {@link ViewerStats}. */
export function isViewerStats(value: unknown): value is ViewerStats {
  if (!isObject(value) || !Number.isInteger(value.skips) || !isObject(value.latency)) return false;
  const latency = value.latency;
  const atLeast = latency.atLeast;
  return ["samples", "p50Ms", "p99Ms", "maxMs"].every((key) => Number.isFinite(latency[key])) &&
    isObject(atLeast) && Object.values(atLeast).every((count) => Number.isInteger(count));
}

/** At most this many tracks cross (a PMT lists few; the bound keeps a bad child small). */
export const MAX_TRACKS = 64;

function isNullableNumber(value: unknown): boolean {
  return value === null || (typeof value === "number" && Number.isFinite(value) && value >= 0);
}

/** Whether `value` is a {@link TrackInfo} a child may report. */
export function isTrackInfo(value: unknown): value is TrackInfo {
  return isObject(value) && Number.isInteger(value.pid) && (value.pid as number) >= 0 &&
    (value.pid as number) < 0x2000 && ["video", "audio", "other"].includes(value.kind as string) &&
    typeof value.codec === "string" && value.codec.length <= 64 &&
    ["width", "height", "frameRate", "sampleRate", "channels"].every((key) =>
      isNullableNumber(value[key])
    );
}

function isSettings(value: unknown): value is PeerSettings {
  return isObject(value) && Number.isInteger(value.latencyMs) &&
    (value.passphrase === undefined || typeof value.passphrase === "string") &&
    [0, 16, 24, 32].includes(value.pbkeylen as number) &&
    Number.isInteger(value.idleTimeoutMs) && Number.isInteger(value.handshakeTimeoutMs) &&
    typeof value.fastHandshake === "boolean" && Number.isInteger(value.decisionTimeoutMs) &&
    (value.stateDir === undefined || typeof value.stateDir === "string");
}

/** Parses one line a child wrote; throws TypeError when it is not a valid message. */
export function parseChildMessage(line: string): ChildMessage {
  const value = parseJson(line, "child message");
  const ok = (() => {
    switch (value.type) {
      case "ready":
        return Number.isInteger(value.srtVersion);
      case "request":
        return typeof value.streamId === "string";
      case "connected":
        return typeof value.streamId === "string" &&
          (value.mode === "publish" || value.mode === "play") &&
          typeof value.encrypted === "boolean" && Number.isFinite(value.handshakeMs);
      case "stats":
        return isLinkStats(value.stats) &&
          (value.viewer === undefined || isViewerStats(value.viewer));
      case "log":
        return ["debug", "info", "warning", "error"].includes(value.level as string) &&
          typeof value.message === "string";
      case "tracks":
        return Array.isArray(value.tracks) && value.tracks.length <= MAX_TRACKS &&
          value.tracks.every(isTrackInfo);
      case "closed":
        return CLOSE_REASONS.includes(value.reason as CloseReason) &&
          typeof value.detail === "string" && (value.stats === null || isLinkStats(value.stats));
      case "self-test":
        return typeof value.passed === "boolean" && Number.isFinite(value.setupMs) &&
          typeof value.detail === "string";
      default:
        return false;
    }
  })();
  if (!ok) throw invalid("child message", value);
  return value as ChildMessage;
}

/** The {@link ParentMessage} line that asks a child to close cleanly (on its stdin, or an adopter's socket). */
export function shutdownLine(detail?: string): Uint8Array<ArrayBuffer> {
  const message: ParentMessage = detail === undefined
    ? { type: "shutdown" }
    : { type: "shutdown", detail };
  return new TextEncoder().encode(`${JSON.stringify(message)}\n`);
}

/** Parses one line the parent wrote; throws TypeError when it is not a valid message. */
export function parseParentMessage(line: string): ParentMessage {
  const value = parseJson(line, "parent message");
  if (value.type !== "shutdown") throw invalid("parent message", value);
  if (value.detail === undefined) return { type: "shutdown" };
  if (typeof value.detail !== "string") throw invalid("parent message", value);
  return { type: "shutdown", detail: value.detail };
}

/** Parses the decision a child reads from its socket pair; throws TypeError when invalid. */
export function parseAccessDecision(text: string): AccessDecision {
  const value = parseJson(text, "access decision");
  const ok = value.type === "accept"
    ? typeof value.stream === "string" && (value.mode === "publish" || value.mode === "play") &&
      (value.passphrase === undefined || typeof value.passphrase === "string") &&
      (value.latencyMs === undefined || Number.isInteger(value.latencyMs)) &&
      Number.isInteger(value.bufferBytes) && (value.bufferBytes as number) > 0
    : value.type === "reject" && Number.isInteger(value.code) && typeof value.reason === "string";
  if (!ok) throw invalid("access decision", value);
  return value as unknown as AccessDecision;
}

/** Parses the peer settings a self-test child reads from stdin. */
export function parsePeerSettings(text: string): PeerSettings {
  const value = parseJson(text, "peer settings");
  if (!isSettings(value)) throw invalid("peer settings", value);
  return value;
}

function isAssignment(value: Json): boolean {
  return value.type === "assign" && typeof value.connectionId === "string" &&
    isEndpoint(value.local) && isEndpoint(value.peer) &&
    typeof value.handshake === "string" && /^([0-9a-f]{2})*$/.test(value.handshake) &&
    typeof value.rendezvous === "boolean" && isSettings(value.settings);
}

/** Parses the assignment payload; throws TypeError when it is not valid. */
export function parseAssignment(text: string): Assignment {
  const value = parseJson(text, "assignment");
  if (!isAssignment(value)) throw invalid("assignment", value);
  return value as unknown as Assignment;
}

/** The longest stream id libsrt sends (SRTO_STREAMID), in bytes. */
export const MAX_STREAM_ID_BYTES = 512;

function isPort(value: unknown): boolean {
  return Number.isInteger(value) && (value as number) >= 1 && (value as number) <= 65535;
}

function isRemote(value: unknown): value is RelayRemote {
  if (!isObject(value)) return false;
  const rendezvous = value.rendezvous;
  return typeof value.url === "string" && typeof value.hostname === "string" &&
    value.hostname !== "" && isPort(value.port) &&
    (value.streamId === undefined ||
      typeof value.streamId === "string" &&
        new TextEncoder().encode(value.streamId).byteLength <= MAX_STREAM_ID_BYTES) &&
    (value.passphrase === undefined || typeof value.passphrase === "string") &&
    (value.pbkeylen === undefined || [0, 16, 24, 32].includes(value.pbkeylen as number)) &&
    (value.latencyMs === undefined ||
      Number.isInteger(value.latencyMs) && (value.latencyMs as number) >= 0) &&
    Number.isInteger(value.connectTimeoutMs) && (value.connectTimeoutMs as number) > 0 &&
    (rendezvous === undefined || isObject(rendezvous) && isPort(rendezvous.localPort));
}

function isRelayAssignment(value: Json): boolean {
  return value.type === "relay" && typeof value.connectionId === "string" &&
    (value.direction === "pull" || value.direction === "push") && isRemote(value.remote) &&
    isSettings(value.settings);
}

/** Parses a relay assignment payload; throws TypeError when it is not valid. */
export function parseRelayAssignment(text: string): RelayAssignment {
  const value = parseJson(text, "relay assignment");
  if (!isRelayAssignment(value)) throw invalid("relay assignment", value);
  return value as unknown as RelayAssignment;
}

/**
 * Parses what a child is given first on its socket pair: a connection to
 * serve ({@link Assignment}) or a relay to run ({@link RelayAssignment}),
 * told apart by `type`; throws TypeError when it is neither.
 */
export function parseChildAssignment(text: string): Assignment | RelayAssignment {
  const value = parseJson(text, "assignment");
  if (value.type === "relay") {
    if (!isRelayAssignment(value)) throw invalid("relay assignment", value);
    return value as unknown as RelayAssignment;
  }
  if (!isAssignment(value)) throw invalid("assignment", value);
  return value as unknown as Assignment;
}
