/**
 * A publisher's child after the handshake: receive SRT messages, tag each
 * with what a joining viewer needs (random-access point, PAT, PMT), and write
 * it once into the stream's shared buffer, where every viewer's child reads
 * it. Receives with the pattern of docs/design.md, "The receive pattern": epoll wait, drain
 * synchronously, yield; viewers are woken once per drained batch.
 *
 * @module
 */

import { SRT_EPOLL_ERR, SRT_EPOLL_IN, SrtError } from "../../ffi/libsrt.ts";
import { futexWake } from "../../ffi/shm.ts";
import { SrtEpoll } from "../../ffi/srt_socket.ts";
import {
  type ConnectionEnd,
  endOf,
  type LoopContext,
  report,
  sharedClockUs,
  STATS_INTERVAL_MS,
} from "./reports.ts";
import { TsInspector } from "../media/mpegts.ts";
import { MessageFlags, StreamWriter, WAKE_WORD_OFFSET } from "../media/stream_buffer.ts";

/** The yield after draining, so wakeups batch packets (docs/design.md, "The receive pattern"). */
export const RECEIVE_YIELD_MS = 3;
/** Largest SRT live payload. */
const MAX_MESSAGE = 1500;

/** Receives until the connection ends or a stop is asked for. */
export async function publishUntilClosed(
  context: LoopContext,
): Promise<ConnectionEnd> {
  const { connection, buffer, stop, stats } = context;
  const writer = StreamWriter.attach(buffer.buffer);
  const inspector = new TsInspector();
  let programInfoVersion = 0;
  using epoll = new SrtEpoll();
  epoll.add(connection, SRT_EPOLL_IN | SRT_EPOLL_ERR);
  const message = new Uint8Array(MAX_MESSAGE);
  let nextStats = performance.now() + STATS_INTERVAL_MS;
  while (!stop.stopped) {
    await epoll.wait(100);
    let written = 0;
    try {
      for (;;) {
        const length = connection.receive(message);
        if (length <= 0) break;
        const view = message.subarray(0, length);
        const flags = inspector.inspect(view);
        if (inspector.programInfoVersion !== programInfoVersion) {
          programInfoVersion = inspector.programInfoVersion;
          const info = inspector.programInfo();
          if (info !== undefined) writer.setProgramInfo(info);
        }
        const lag = inspector.randomAccessLag;
        if ((flags & MessageFlags.RandomAccess) !== 0 && lag > 0) {
          // The key frame was recognised by its slice, after its PES began:
          // joining viewers must start where it began.
          const number = writer.write(view, flags & ~MessageFlags.RandomAccess, sharedClockUs());
          writer.markRandomAccess((number - lag) >>> 0);
        } else writer.write(view, flags, sharedClockUs());
        written++;
      }
    } catch (error) {
      if (writer.replaced) {
        return { reason: "shutdown", detail: "another publisher took the stream over" };
      }
      // A broken connection fails the read, with whichever code; the state below says why.
      if (!(error instanceof SrtError && error.op === "srt_recvmsg2")) throw error;
    }
    if (written > 0) futexWake(buffer, WAKE_WORD_OFFSET);
    const end = endOf(context);
    if (end !== undefined) return end;
    stats.refresh();
    if (performance.now() >= nextStats) {
      nextStats += STATS_INTERVAL_MS;
      report({ type: "stats", stats: stats.read() });
    }
    await stop.sleep(RECEIVE_YIELD_MS);
  }
  return { reason: "shutdown", detail: stop.detail ?? "closed by the server" };
}
