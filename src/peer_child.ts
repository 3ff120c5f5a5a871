/**
 * The peer child process: waits for one connection from the main process,
 * drives libsrt on it, reports to the main process on stdout, and exits when
 * the connection ends. One process per SRT peer: whatever happens here
 * cannot touch another connection.
 *
 * @module
 */

import { closeFd, receiveWithFd } from "../ffi/socket.ts";
import { libsrt, SRT_EPOLL_ERR, SRT_EPOLL_IN } from "../ffi/libsrt.ts";
import { SrtEpoll, SrtOption, type SrtSocket, SrtState } from "../ffi/srt_socket.ts";
import type { TraceStats } from "../ffi/structs.ts";
import { acceptConnection } from "./srt_acceptor.ts";
import { readLines } from "./lines.ts";
import {
  type Assignment,
  type ChildMessage,
  type CloseReason,
  type LinkStats,
  parseAssignment,
  parseParentMessage,
} from "./messages.ts";
import { describeMode } from "./stream_id.ts";
import { StopFlag } from "./stop_flag.ts";

/** libsrt's LOG_CRIT: keeps libsrt's own stderr logging for real emergencies. */
const LIBSRT_LOG_LEVEL = 2;
/** How long the receive loop yields after draining, so wakeups batch packets (DESIGN.md). */
const RECEIVE_YIELD_MS = 3;
const STATS_INTERVAL_MS = 1000;
/**
 * How often statistics are read: libsrt refuses srt_bstats once a connection
 * is broken, so the closing report uses the last reading, at most this old.
 */
const STATS_REFRESH_MS = 200;
/** Largest SRT live payload. */
const MAX_MESSAGE = 1500;

const encoder = new TextEncoder();

/** Writes one message to the main process (stdout, a JSON line). */
export function report(message: ChildMessage): void {
  const bytes = encoder.encode(`${JSON.stringify(message)}\n`);
  for (let written = 0; written < bytes.byteLength;) {
    written += Deno.stdout.writeSync(bytes.subarray(written));
  }
}

export function toLinkStats(stats: TraceStats): LinkStats {
  return {
    bytesReceived: stats.byteRecvTotal,
    bytesSent: stats.byteSentTotal,
    packetsReceived: stats.pktRecvTotal,
    packetsSent: stats.pktSentTotal,
    packetsLost: stats.pktRcvLossTotal + stats.pktSndLossTotal,
    packetsRetransmitted: stats.pktRetransTotal,
    packetsDropped: stats.pktRcvDropTotal + stats.pktSndDropTotal,
    rttMs: stats.msRTT,
    mbpsReceiveRate: stats.mbpsRecvRate,
    mbpsSendRate: stats.mbpsSendRate,
  };
}

async function watchParent(stop: StopFlag): Promise<void> {
  try {
    for await (const line of readLines(Deno.stdin.readable)) {
      if (parseParentMessage(line).type === "shutdown") stop.stop();
    }
  } finally {
    // stdin closed: the main process is gone, so nobody is left to serve.
    stop.stop();
  }
}

/**
 * The whole life of a peer child. Returns the process exit code: 0 for every
 * orderly end (including rejected and timed-out handshakes), 1 on an error.
 */
export async function runPeerChild(controlFd: number): Promise<number> {
  const srt = libsrt();
  srt.srt_setloglevel(LIBSRT_LOG_LEVEL);
  if (srt.srt_startup() < 0) throw new Error("srt_startup failed");
  const stop = new StopFlag();
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => stop.stop());
  }
  watchParent(stop).catch((error) => {
    report({ type: "log", level: "error", message: `Bad message from main process: ${error}` });
    stop.stop();
  });
  report({ type: "ready", srtVersion: srt.srt_getversion() });

  const message = await Promise.race([
    receiveWithFd(controlFd),
    stop.sleep(2 ** 31 - 1).then(() => null),
  ]);
  if (message === null || message.fd === undefined) return 0;
  closeFd(controlFd);
  const assignment = parseAssignment(new TextDecoder().decode(message.payload));
  try {
    return await serve(assignment, message.fd, stop);
  } finally {
    srt.srt_cleanup();
  }
}

function hexToBytes(hex: string): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return bytes;
}

async function serve(assignment: Assignment, udpFd: number, stop: StopFlag): Promise<number> {
  const result = await acceptConnection({
    udpFd,
    peer: assignment.peer,
    handshake: hexToBytes(assignment.handshake),
    rendezvous: assignment.rendezvous,
    settings: assignment.settings,
    stopRequested: () => stop.stopped,
  });
  if (!result.ok) {
    report({ type: "closed", reason: result.reason, detail: result.detail, stats: null });
    return 0;
  }
  // Disposing closes the connection (the peer is told) and then the listener.
  using accepted = result.accepted;
  const { connection, setupMs } = accepted;
  const streamId = connection.getString(SrtOption.STREAMID, 600, "STREAMID");
  const encrypted = connection.getInt(SrtOption.KMSTATE, "KMSTATE") === 2;
  report({
    type: "connected",
    streamId,
    mode: describeMode(streamId),
    encrypted,
    handshakeMs: Math.round(setupMs * 10) / 10,
  });
  const stats = new StatsReader(connection);
  const { reason, detail } = await receiveUntilClosed(connection, assignment, stop, stats);
  report({ type: "closed", reason, detail, stats: stats.read() });
  return 0;
}

/** The connection's statistics, or the last reading once libsrt refuses them. */
class StatsReader {
  #connection: SrtSocket;
  #last: LinkStats;
  #readAt = 0;

  constructor(connection: SrtSocket) {
    this.#connection = connection;
    this.#last = toLinkStats(connection.stats());
  }

  /** Fresh statistics if libsrt still gives them, else the last ones. */
  read(): LinkStats {
    try {
      this.#last = toLinkStats(this.#connection.stats());
      this.#readAt = performance.now();
    } catch {
      // Broken connection: keep the last reading.
    }
    return this.#last;
  }

  /** Reads again when the last reading is older than {@link STATS_REFRESH_MS}. */
  refresh(): void {
    if (performance.now() - this.#readAt >= STATS_REFRESH_MS) this.read();
  }
}

/**
 * Until the stream issue routes media, what a publisher sends is counted
 * (libsrt's statistics) and discarded.
 */
async function receiveUntilClosed(
  connection: SrtSocket,
  assignment: Assignment,
  stop: StopFlag,
  stats: StatsReader,
): Promise<{ reason: CloseReason; detail: string }> {
  using epoll = new SrtEpoll();
  epoll.add(connection, SRT_EPOLL_IN | SRT_EPOLL_ERR);
  const buffer = new Uint8Array(MAX_MESSAGE);
  let nextStats = performance.now() + STATS_INTERVAL_MS;
  let lastData = performance.now();
  while (!stop.stopped) {
    await epoll.wait(100);
    try {
      let received = 0;
      while (connection.receive(buffer) > 0) received++;
      if (received > 0) lastData = performance.now();
    } catch {
      // A broken connection fails the read; the state below says why.
    }
    const state = connection.state;
    if (state < SrtState.BROKEN) stats.refresh();
    else {
      // libsrt marks a connection BROKEN both when the peer says goodbye and
      // when it falls silent; silence for the idle timeout tells them apart.
      const silentMs = performance.now() - lastData;
      return silentMs >= assignment.settings.idleTimeoutMs - 250
        ? { reason: "broken", detail: `no packet from the peer for ${Math.round(silentMs)} ms` }
        : { reason: "peer-closed", detail: "the peer closed the connection" };
    }
    if (performance.now() >= nextStats) {
      nextStats += STATS_INTERVAL_MS;
      report({ type: "stats", stats: stats.read() });
    }
    await stop.sleep(RECEIVE_YIELD_MS);
  }
  return { reason: "shutdown", detail: "closed by the server" };
}
