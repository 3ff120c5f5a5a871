/**
 * What an orphaned child and the main process that adopts it say first.
 *
 * A connected child whose main process is gone keeps its connection, and
 * waits on a Unix stream socket in the state directory,
 * `children/PID.sock`. A main process that starts on that state directory
 * connects to each one; the child answers with one {@link Hello} line, which
 * says who it is and what its connection is, and from then on writes its
 * reports ({@link ChildMessage} lines) there and takes
 * {@link ParentMessage} lines from there, as it did on its stdout and stdin.
 *
 * The {@link ADOPTION_PROTOCOL} number changes whenever what crosses here
 * changes meaning: a main process never adopts a child that speaks another.
 *
 * @module
 */

import type { Endpoint, LinkStats, StreamMode, ViewerStats } from "./messages.ts";
import { isEndpoint, isLinkStats, isTrackInfo, isViewerStats, MAX_TRACKS } from "./messages.ts";
import type { TrackInfo } from "../media/track_info.ts";

/** The version of what an orphaned child and its adopter say. */
export const ADOPTION_PROTOCOL = 1;

/** Where a state directory keeps its orphaned children's sockets. */
export const CHILDREN_DIR = "children";

/** The socket an orphaned child `pid` of `stateDir` listens on. */
export function childSocketPath(stateDir: string, pid: number): string {
  return `${stateDir}/${CHILDREN_DIR}/${pid}.sock`;
}

/** The pid in a child socket's file name (`PID.sock`); undefined for any other name. */
export function pidOfSocketName(name: string): number | undefined {
  const match = /^([1-9][0-9]{0,9})\.sock$/.exec(name);
  return match === null ? undefined : Number(match[1]);
}

/** An orphaned child's first line to the main process that connected to it. */
export interface Hello {
  type: "hello";
  protocol: number;
  pid: number;
  /** The state directory it was started for. */
  stateDir: string;
  connectionId: string;
  peer: Endpoint;
  /** The public address its socket is bound to. */
  local: Endpoint;
  streamId: string;
  mode: StreamMode;
  /** The stream it publishes or plays. */
  stream: string;
  encrypted: boolean;
  handshakeMs: number;
  /** Wall-clock ms (`Date.now()`) when its connection came up. */
  connectedAt: number;
  /** The stream buffer's fd in the child (the adopter opens `/proc/PID/fd/N`), and its size. */
  bufferFd: number;
  bufferBytes: number;
  /** Its newest link statistics, if it has read any. */
  stats: LinkStats | null;
  /** A viewer's figures. */
  viewer?: ViewerStats;
  /** A publisher's stream tracks, as it last reported them. */
  tracks?: TrackInfo[];
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isCount(value: unknown): boolean {
  return Number.isInteger(value) && (value as number) >= 0;
}

/**
 * Parses a child's hello line. Throws TypeError when it is not a hello at
 * all, and {@link ProtocolMismatch} when it is one of another protocol
 * version (whatever else it holds).
 */
export function parseHello(line: string): Hello {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new TypeError(`Invalid hello: not JSON: ${line.slice(0, 80)}`);
  }
  if (!isObject(value) || value.type !== "hello") {
    throw new TypeError(`Invalid hello: ${line.slice(0, 120)}`);
  }
  if (value.protocol !== ADOPTION_PROTOCOL) throw new ProtocolMismatch(value.protocol);
  const ok = isCount(value.pid) && typeof value.stateDir === "string" &&
    typeof value.connectionId === "string" && isEndpoint(value.peer) &&
    isEndpoint(value.local) && typeof value.streamId === "string" &&
    (value.mode === "publish" || value.mode === "play") && typeof value.stream === "string" &&
    typeof value.encrypted === "boolean" && Number.isFinite(value.handshakeMs) &&
    Number.isFinite(value.connectedAt) && isCount(value.bufferFd) &&
    isCount(value.bufferBytes) && (value.bufferBytes as number) > 0 &&
    (value.stats === null || isLinkStats(value.stats)) &&
    (value.viewer === undefined || isViewerStats(value.viewer)) &&
    (value.tracks === undefined ||
      (Array.isArray(value.tracks) && value.tracks.length <= MAX_TRACKS &&
        value.tracks.every(isTrackInfo)));
  if (!ok) throw new TypeError(`Invalid hello: ${line.slice(0, 120)}`);
  return value as unknown as Hello;
}

/** A hello of another protocol version: the child belongs to another Atoll version. */
export class ProtocolMismatch extends Error {
  override name = "ProtocolMismatch";
  readonly protocol: unknown;
  constructor(protocol: unknown) {
    super(
      `the child speaks adoption protocol ${
        JSON.stringify(protocol)
      }, this Atoll ${ADOPTION_PROTOCOL}`,
    );
    this.protocol = protocol;
  }
}
