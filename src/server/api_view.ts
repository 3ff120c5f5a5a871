/**
 * How a connection record reads outside the main process: as the API shows
 * it, and as every log line about it names it. Both read the one record in
 * the {@link ConnectionTable}, so the API and the log agree on a
 * connection's stream in every phase.
 *
 * @module
 */

import { formatHostPort } from "../config/options.ts";
import { redactStreamId } from "../protocol/stream_id.ts";
import type { ConnectionInfo } from "./api_types.ts";
import type { Connection } from "./connection_table.ts";

/** What the connection table does not know about a connection: the stream manager's part. */
export interface ConnectionPlacement {
  /** Held for a publisher (the stream manager's `isWaiting()`). */
  waiting: boolean;
  /** For a relay's connection: its relay's state and failed attempts in a row. */
  relay?: { state: string; retries: number } | undefined;
}

/**
 * One connection as `/api/connections` shows it. The server passes the
 * stream manager's `placement`; without it (tests of the table alone) the
 * connection shows as not waiting.
 */
export function connectionInfo(
  c: Connection<{ readonly pid: number }>,
  placement: ConnectionPlacement = { waiting: false },
): ConnectionInfo {
  return {
    id: c.id,
    pid: c.child.pid,
    peer: formatHostPort(c.peer),
    // Without credentials a caller may have put in it (s=, tokens).
    streamId: c.streamId === undefined ? null : redactStreamId(c.streamId),
    stream: c.stream ?? null,
    mode: c.mode,
    state: c.phase,
    waiting: placement.waiting,
    encrypted: c.encrypted,
    startedAt: new Date(c.startedAt).toISOString(),
    connectedAt: c.connectedAt === undefined ? null : new Date(c.connectedAt).toISOString(),
    handshakeMs: c.handshakeMs ?? null,
    viewer: c.viewer ?? null,
    cpuPercent: c.resources.cpuPercent,
    privateDirtyBytes: c.resources.privateDirtyBytes,
    pssBytes: c.resources.pssBytes,
    relay: c.relay === undefined ? null : {
      id: c.relay.relayId,
      direction: c.relay.direction,
      url: c.relay.url,
      state: placement.relay?.state ?? (c.phase === "connected" ? "connected" : "connecting"),
      retries: placement.relay?.retries ?? 0,
    },
    ...c.stats,
  };
}

/**
 * What every log line about a connection carries, so lines can be found by
 * connection, peer or stream (`stream` is null until the stream manager
 * placed the connection on one).
 */
export function logContext(
  c: Connection<{ readonly pid: number }>,
): Record<string, string | number | null> {
  return {
    id: c.id,
    // A relay's remote is a URL: the same address may serve many relays.
    peer: c.relay?.url ?? c.peerKey,
    stream: c.stream ?? null,
    pid: c.child.pid,
  };
}
