/**
 * What a child tells the main process, and the link statistics it reads
 * from libsrt: shared by the publish and play loops.
 *
 * @module
 */

import {
  EAGAIN,
  EINTR,
  ENOENT,
  errno,
  F_GETFL,
  F_SETFL,
  libc,
  MSG_DONTWAIT,
  MSG_NOSIGNAL,
  O_NONBLOCK,
  POLLFD,
  POLLOUT,
  SIOCGSTAMPNS,
  TIMESPEC,
} from "../../ffi/libc.ts";
import { pointerTo } from "../../ffi/pointer.ts";
import type { SharedMapping } from "../../ffi/shm.ts";
import type { SrtSocket } from "../../ffi/srt_socket.ts";
import { SrtState } from "../../ffi/srt_socket.ts";
import type { TraceStats } from "../../ffi/structs.ts";
import type { ChildMessage, CloseReason, LinkStats } from "../ipc/messages.ts";
import { ReportQueue, type WriteOutcome } from "../ipc/report_queue.ts";
import type { StopFlag } from "./stop_flag.ts";

/** What the publish and play loops work with, once the caller is accepted. */
export interface LoopContext {
  connection: SrtSocket;
  /** The stream's buffer, mapped. */
  buffer: SharedMapping;
  stop: StopFlag;
  stats: StatsReader;
  /** When the peer was last heard from, to tell its goodbye from its silence. */
  peer: PeerClock;
  idleTimeoutMs: number;
}

/** How a connection ended, for the child's closing report. */
export interface ConnectionEnd {
  reason: CloseReason;
  detail: string;
}

/** How often the loops report statistics to the main process. */
export const STATS_INTERVAL_MS = 1000;
/**
 * When a loop reports statistics: every {@link STATS_INTERVAL_MS} while they
 * move, and no more once two reports in a row carried the same figures,
 * until traffic moves them again; the first report after that goes out at
 * once. An idle connection's child then has no timer to wake for, and the
 * main process keeps showing the figures, which are still true. The rates
 * libsrt gives are averages since the connection started: they drift by
 * themselves and are left out of the comparison.
 */
export class StatsSchedule {
  #next: number;
  #last: string | undefined;
  #settled = false;

  constructor(nowMs: number) {
    this.#next = nowMs + STATS_INTERVAL_MS;
  }

  /** Whether reports have stopped until traffic moves the figures again. */
  get settled(): boolean {
    return this.#settled;
  }

  /** Traffic: reports go on, the next one at once when they had stopped. */
  moved(nowMs: number): void {
    if (!this.#settled) return;
    this.#settled = false;
    this.#next = nowMs;
  }

  /** Whether a report is due. */
  due(nowMs: number): boolean {
    return !this.#settled && nowMs >= this.#next;
  }

  /** Milliseconds until the next report is due (0: now), Infinity once settled. */
  delayMs(nowMs: number): number {
    return this.#settled ? Infinity : Math.max(0, this.#next - nowMs);
  }

  /** A report went out with `stats` (and `extra`, a viewer's figures, say). */
  reported(nowMs: number, stats: LinkStats, extra?: unknown): void {
    const figures = JSON.stringify([{ ...stats, mbpsReceiveRate: 0, mbpsSendRate: 0 }, extra]);
    this.#settled = figures === this.#last;
    this.#last = figures;
    this.#next += STATS_INTERVAL_MS;
    // A loop held up for longer than an interval does not make up for it with a burst.
    if (this.#next <= nowMs) this.#next = nowMs + STATS_INTERVAL_MS;
  }
}

/**
 * How often statistics are read: libsrt refuses srt_bstats once a connection
 * is broken, so the closing report uses the last reading, at most this old.
 */
const STATS_REFRESH_MS = 200;

/** The child's reports go out on its stdout. */
const STDOUT = 1;
/** A send that never waits, and never raises SIGPIPE. */
const SEND_FLAGS = MSG_DONTWAIT | MSG_NOSIGNAL;
/** How often reports that wait for a full pipe are tried again. */
const RETRY_MS = 100;
/** A write interrupted by a signal is tried again, this many times at most. */
const MAX_INTERRUPTED_WRITES = 4;

let queue: ReportQueue | undefined;
/** Where reports go: stdout, an adopter's socket, or nowhere (undefined) once orphaned. */
let sinkFd: number | undefined = STDOUT;
let retryTimer: ReturnType<typeof setTimeout> | undefined;
/** The newest statistics and tracks reported: an adopter is told them first (adoption.ts). */
let lastStats: Extract<ChildMessage, { type: "stats" }> | undefined;
let lastTracks: Extract<ChildMessage, { type: "tracks" }> | undefined;

/** The newest `stats` report, and the newest `tracks` report, this child made. */
export function latestReports(): {
  stats: Extract<ChildMessage, { type: "stats" }> | undefined;
  tracks: Extract<ChildMessage, { type: "tracks" }> | undefined;
} {
  return { stats: lastStats, tracks: lastTracks };
}

/**
 * Sends every later report to the stream socket `fd` (an adopting main
 * process reads it), or nowhere when undefined: what waited for the old
 * sink is dropped, as the new reader is told the state anew.
 */
export function reportTo(fd: number | undefined): void {
  sinkFd = fd;
  queue = new ReportQueue(fd === undefined ? () => "closed" : (bytes) => sendTo(fd, bytes));
}

/** Sends `line` and a newline on the stream socket `fd` at once, whole; false when it cannot. */
export function writeLine(fd: number, line: string): boolean {
  const bytes = new TextEncoder().encode(`${line}\n`);
  return sendTo(fd, bytes) === bytes.byteLength;
}

/**
 * {@link writeTo} for a socket, without making it non-blocking (a read
 * waits on it off the JS thread): each send alone does not wait, and a
 * closed reader fails it without a signal.
 */
function sendTo(fd: number, bytes: Uint8Array): WriteOutcome {
  return retryInterrupted(() =>
    Number(libc().send(fd, pointerTo(bytes), BigInt(bytes.byteLength), SEND_FLAGS))
  );
}

/**
 * Tells the main process `message` (a JSON line on stdout) without ever
 * waiting for it: when the pipe is full (a main process that does not read),
 * the report waits in a {@link ReportQueue}, coalesced and bounded, and goes
 * out on a later report or a retry timer once the pipe has room.
 */
export function report(message: ChildMessage): void {
  if (message.type === "stats") lastStats = message;
  else if (message.type === "tracks") lastTracks = message;
  queue ??= new ReportQueue(openStdout());
  queue.push(message);
  retryLater();
}

/**
 * Before the child exits: waits at most `timeoutMs` for the pipe to take the
 * reports still queued (the closing one, say). Returns whether all went out
 * (not when the main process is gone).
 */
export function flushReports(timeoutMs: number): boolean {
  // Only when set: even clearTimeout(undefined) loads Deno's timers (about 3 ms).
  if (retryTimer !== undefined) clearTimeout(retryTimer);
  retryTimer = undefined;
  if (queue === undefined) return true;
  if (sinkFd === undefined) return false;
  const pollfd = new Uint8Array(POLLFD.size);
  const view = new DataView(pollfd.buffer);
  view.setInt32(POLLFD.offsets.fd, sinkFd, true);
  view.setInt16(POLLFD.offsets.events, POLLOUT, true);
  const deadline = performance.now() + timeoutMs;
  queue.flush();
  while (queue.pending && !queue.closed) {
    const left = Math.ceil(deadline - performance.now());
    if (left <= 0) return false;
    // Room, a reader gone (POLLERR) and a signal all end the wait; a flush follows each.
    libc().poll(pointerTo(pollfd), 1n, left);
    queue.flush();
  }
  return !queue.pending && !queue.closed;
}

function retryLater(): void {
  if (retryTimer !== undefined || queue === undefined || !queue.pending || queue.closed) return;
  const timer = setTimeout(() => {
    retryTimer = undefined;
    queue?.flush();
    retryLater();
  }, RETRY_MS);
  // The reports never keep a child alive: it flushes them itself before exiting.
  Deno.unrefTimer(timer);
  retryTimer = timer;
}

/**
 * Makes stdout non-blocking, so a full pipe fails a write instead of
 * stopping the JS thread, which also runs the media loop. A terminal is
 * left alone: O_NONBLOCK belongs to the open file, which a terminal shares
 * with the shell, and a child run by hand on one may as well wait for it.
 */
function openStdout(): (bytes: Uint8Array) => WriteOutcome {
  if (!Deno.stdout.isTerminal()) {
    const flags = libc().fcntl(STDOUT, F_GETFL, 0);
    if (flags >= 0) libc().fcntl(STDOUT, F_SETFL, flags | O_NONBLOCK);
  }
  return (bytes) => writeTo(STDOUT, bytes);
}

function writeTo(fd: number, bytes: Uint8Array): WriteOutcome {
  return retryInterrupted(() =>
    Number(libc().write(fd, pointerTo(bytes), BigInt(bytes.byteLength)))
  );
}

/** Runs a write until it is not interrupted, and says what came of it. */
function retryInterrupted(write: () => number): WriteOutcome {
  for (let attempt = 0; attempt < MAX_INTERRUPTED_WRITES; attempt++) {
    const written = write();
    if (written >= 0) return written;
    const code = errno();
    if (code === EINTR) continue;
    if (code === EAGAIN) return "full";
    // EPIPE: the main process is gone (SIGPIPE is ignored); any other error
    // (EBADF) leaves nobody to read what follows either.
    return "closed";
  }
  return "full";
}

/** The statistics a child reports, from one srt_bstats reading. */
export function toLinkStats(stats: TraceStats): LinkStats {
  return {
    bytesReceived: stats.byteRecvTotal,
    bytesSent: stats.byteSentTotal,
    packetsReceived: stats.pktRecvTotal,
    packetsSent: stats.pktSentTotal,
    packetsLost: stats.pktRcvLossTotal + stats.pktSndLossTotal,
    packetsRetransmitted: stats.pktRetransTotal,
    packetsDropped: stats.pktRcvDropTotal + stats.pktSndDropTotal,
    packetsBelated: stats.pktRcvBelated,
    rttMs: stats.msRTT,
    mbpsReceiveRate: stats.mbpsRecvRate,
    mbpsSendRate: stats.mbpsSendRate,
    mbpsBandwidth: stats.mbpsBandwidth,
    sendBufferPackets: stats.pktSndBuf,
    sendBufferMs: stats.msSndBuf,
    receiveBufferPackets: stats.pktRcvBuf,
    receiveBufferMs: stats.msRcvBuf,
    flowWindowPackets: stats.pktFlowWindow,
  };
}

/** The connection's statistics, or the last reading once libsrt refuses them. */
export class StatsReader {
  #connection: SrtSocket;
  #last: LinkStats;
  #readAt = 0;
  /** Data packets, acknowledgements and loss reports received, at the last reading. */
  #received = 0;
  /** When a reading last found more of them than the one before. */
  #receivedAt = performance.now();

  constructor(connection: SrtSocket) {
    this.#connection = connection;
    this.#last = toLinkStats(connection.stats());
  }

  /** Fresh statistics if libsrt still gives them, else the last ones. */
  read(): LinkStats {
    try {
      const stats = this.#connection.stats();
      this.#readAt = performance.now();
      const received = stats.pktRecvTotal + stats.pktRecvACKTotal + stats.pktRecvNAKTotal;
      if (received !== this.#received) this.#receivedAt = this.#readAt;
      this.#received = received;
      this.#last = toLinkStats(stats);
    } catch {
      // Broken connection: keep the last reading.
    }
    return this.#last;
  }

  /** Reads again when the last reading is older than {@link STATS_REFRESH_MS}. */
  refresh(): void {
    if (performance.now() - this.#readAt >= STATS_REFRESH_MS) this.read();
  }

  /**
   * Milliseconds since the readings last saw a packet arrive: libsrt counts
   * data, acknowledgements and loss reports, not keepalives or the shutdown.
   */
  silentMs(): number {
    return performance.now() - this.#receivedAt;
  }
}

/**
 * When the peer was last heard from: the arrival time of the last datagram
 * libsrt read from the peer's connected UDP socket, which the kernel keeps
 * once asked for it (SIOCGSTAMPNS). Every packet counts, keepalives and the
 * peer's shutdown included, as for libsrt's own idle timeout. libsrt's
 * statistics count only data, acknowledgements and loss reports, and a
 * player with nothing to play or a paused publisher sends none of them for
 * as long as it waits.
 */
export class PeerClock {
  #udpFd: number;
  #fallback: Pick<StatsReader, "silentMs">;
  #startedAt = Date.now();
  #kernel: boolean;
  #stamp = new Uint8Array(TIMESPEC.size);

  /**
   * `fallback` answers where the kernel keeps no arrival times (the
   * {@link StatsReader}), and always without `udpFd`: a connection this
   * child made itself (a relay's call) has its UDP socket inside libsrt.
   * The first reading turns the kernel's timestamps on: packets from then
   * on are stamped.
   */
  constructor(udpFd: number | undefined, fallback: Pick<StatsReader, "silentMs">) {
    this.#udpFd = udpFd ?? -1;
    this.#kernel = udpFd !== undefined;
    this.#fallback = fallback;
    this.silentMs();
  }

  /** Milliseconds since a packet from the peer arrived. */
  silentMs(): number {
    if (!this.#kernel) return this.#fallback.silentMs();
    if (libc().ioctl(this.#udpFd, BigInt(SIOCGSTAMPNS), pointerTo(this.#stamp)) < 0) {
      // ENOENT: nothing read from the socket yet; the reading turned the timestamps on.
      if (errno() === ENOENT) return Date.now() - this.#startedAt;
      this.#kernel = false;
      return this.#fallback.silentMs();
    }
    const view = new DataView(this.#stamp.buffer);
    const arrivedAt = Number(view.getBigInt64(TIMESPEC.offsets.tv_sec, true)) * 1000 +
      Number(view.getBigInt64(TIMESPEC.offsets.tv_nsec, true)) / 1e6;
    return Math.max(0, Date.now() - arrivedAt);
  }
}

/**
 * How long the peer may have been silent when libsrt reports the connection
 * broken and it still counts as the peer's goodbye: libsrt marks a
 * connection BROKEN the moment the peer's shutdown arrives, and when the
 * peer has been silent for longer than the idle timeout (and at least 16
 * expirations of 300 ms or more). Half the idle timeout leaves the loops
 * time to notice either.
 */
export function closedBySilence(silentMs: number, idleTimeoutMs: number): boolean {
  return silentMs >= idleTimeoutMs / 2;
}

/**
 * Why a connection ended, once libsrt reports it broken: libsrt says BROKEN
 * both when the peer says goodbye and when it falls silent, and the peer's
 * silence tells them apart ({@link closedBySilence}).
 */
export function endOf(context: LoopContext): ConnectionEnd | undefined {
  if (context.connection.state < SrtState.BROKEN) return undefined;
  const silentMs = context.peer.silentMs();
  return closedBySilence(silentMs, context.idleTimeoutMs)
    ? { reason: "broken", detail: `no packet from the peer for ${Math.round(silentMs)} ms` }
    : { reason: "peer-closed", detail: "the peer closed the connection" };
}

/** Microseconds on a clock every process of this machine shares (for latency across processes). */
export function sharedClockUs(): number {
  return (performance.timeOrigin + performance.now()) * 1000;
}
