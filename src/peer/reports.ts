/**
 * What a child tells the main process, and the link statistics it reads
 * from libsrt: shared by the publish and play loops.
 *
 * @module
 */

import type { SharedMapping } from "../../ffi/shm.ts";
import type { SrtSocket } from "../../ffi/srt_socket.ts";
import { SrtState } from "../../ffi/srt_socket.ts";
import type { TraceStats } from "../../ffi/structs.ts";
import type { ChildMessage, CloseReason, LinkStats } from "../ipc/messages.ts";
import type { StopFlag } from "./stop_flag.ts";

/** What the publish and play loops work with, once the caller is accepted. */
export interface LoopContext {
  connection: SrtSocket;
  /** The stream's buffer, mapped. */
  buffer: SharedMapping;
  stop: StopFlag;
  stats: StatsReader;
  idleTimeoutMs: number;
}

/** How a connection ended, for the child's closing report. */
export interface ConnectionEnd {
  reason: CloseReason;
  detail: string;
}

const encoder = new TextEncoder();

/** How often the loops report statistics to the main process. */
export const STATS_INTERVAL_MS = 1000;
/**
 * How often statistics are read: libsrt refuses srt_bstats once a connection
 * is broken, so the closing report uses the last reading, at most this old.
 */
const STATS_REFRESH_MS = 200;

/** Writes one message to the main process (stdout, a JSON line), synchronously. */
export function report(message: ChildMessage): void {
  const bytes = encoder.encode(`${JSON.stringify(message)}\n`);
  for (let written = 0; written < bytes.byteLength;) {
    written += Deno.stdout.writeSync(bytes.subarray(written));
  }
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
 * Why a connection libsrt reports as broken ended. libsrt marks a connection
 * BROKEN both when the peer says goodbye and when it falls silent; silence
 * for the idle timeout tells them apart.
 */
export function endOf(
  connection: SrtSocket,
  silentMs: number,
  idleTimeoutMs: number,
): ConnectionEnd | undefined {
  if (connection.state < SrtState.BROKEN) return undefined;
  return silentMs >= idleTimeoutMs - 250
    ? { reason: "broken", detail: `no packet from the peer for ${Math.round(silentMs)} ms` }
    : { reason: "peer-closed", detail: "the peer closed the connection" };
}

/** Microseconds on a clock every process of this machine shares (for latency across processes). */
export function sharedClockUs(): number {
  return (performance.timeOrigin + performance.now()) * 1000;
}
