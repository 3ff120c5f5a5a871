/**
 * Carrying the media of a connection once it stands, for both kinds of
 * child: a listening peer's accepted caller (serve.ts) and the connection a
 * relay made itself (relay.ts). Loaded only then: a prestarted child has no
 * use for it, and each child loads only the one loop it runs.
 *
 * @module
 */

import type { SharedMapping } from "../../ffi/shm.ts";
import type { SrtSocket } from "../../ffi/srt_socket.ts";
import { type ConnectionEnd, type LoopContext, PeerClock, report, StatsReader } from "./reports.ts";
import type { StopFlag } from "./stop_flag.ts";
import type { StreamMode } from "../ipc/messages.ts";

/** A connection that stands, and what its media goes into or comes from. */
export interface Carriage {
  connection: SrtSocket;
  /** The stream's buffer, mapped. */
  buffer: SharedMapping;
  /**
   * The connected UDP socket, which libsrt now owns: for when the peer was
   * last heard (`PeerClock`). Undefined for a connection this child made,
   * whose socket libsrt keeps to itself.
   */
  udpFd: number | undefined;
  stop: StopFlag;
  idleTimeoutMs: number;
}

/**
 * Carries the media until the connection ends or a stop is asked for (a
 * publisher writes into the buffer, a player sends from it), and reports how
 * it ended. Resolves to the exit code: 0.
 */
export async function carry(mode: StreamMode, carriage: Carriage): Promise<number> {
  const { connection, buffer, udpFd, stop, idleTimeoutMs } = carriage;
  const stats = new StatsReader(connection);
  const { reason, detail } = await runLoop(mode, {
    connection,
    buffer,
    stop,
    stats,
    peer: new PeerClock(udpFd, stats),
    idleTimeoutMs,
  });
  report({ type: "closed", reason, detail, stats: stats.read() });
  return 0;
}

/** The publish or play loop, loaded here: each child needs only one. */
async function runLoop(mode: StreamMode, context: LoopContext): Promise<ConnectionEnd> {
  if (mode === "publish") {
    const { publishUntilClosed } = await import("./publish_loop.ts");
    return await publishUntilClosed(context);
  }
  const { playUntilClosed } = await import("./play_loop.ts");
  return await playUntilClosed(context);
}
