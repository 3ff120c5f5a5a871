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

/**
 * A zero-downtime upgrade (src/server/upgrade.ts): the running main process,
 * told to upgrade, starts its successor with this variable set to its own
 * pid, and waits on this socket in the state directory; the successor says
 * {@link UpgradeRequest} there once it has started as far as it can without
 * the ports, and the running one answers with an {@link UpgradeAnswer}.
 */
export const UPGRADE_ENV = "ATOLL_UPGRADE_FROM";

/** Where a main process that is upgrading waits for its successor. */
export function upgradeSocketPath(stateDir: string): string {
  return `${stateDir}/upgrade.sock`;
}

/** The successor's first line: who it is, and which adoption protocol it speaks. */
export interface UpgradeRequest {
  type: "upgrade";
  protocol: number;
  pid: number;
}

/**
 * The running main process's answer: `go` once it has let go of the ports,
 * the lock and its children (`children`: the pids of the connected ones,
 * which the successor waits for), or `refused` and why (it keeps running).
 */
export type UpgradeAnswer =
  | { type: "go"; children: number[] }
  | { type: "refused"; reason: string };

/** Parses the successor's line; TypeError when it is not one. */
export function parseUpgradeRequest(line: string): UpgradeRequest {
  const value = parseObject(line, "upgrade request");
  if (value.type !== "upgrade" || !isCount(value.pid) || !("protocol" in value)) {
    throw new TypeError(`Invalid upgrade request: ${line.slice(0, 120)}`);
  }
  return value as unknown as UpgradeRequest;
}

/** Parses the running main process's answer; TypeError when it is not one. */
export function parseUpgradeAnswer(line: string): UpgradeAnswer {
  const value = parseObject(line, "upgrade answer");
  const ok = value.type === "go"
    ? Array.isArray(value.children) && value.children.every(isCount)
    : value.type === "refused" && typeof value.reason === "string";
  if (!ok) throw new TypeError(`Invalid upgrade answer: ${line.slice(0, 120)}`);
  return value as unknown as UpgradeAnswer;
}

function parseObject(line: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new TypeError(`Invalid ${what}: not JSON: ${line.slice(0, 80)}`);
  }
  if (!isObject(value)) throw new TypeError(`Invalid ${what}: ${line.slice(0, 120)}`);
  return value;
}
