/**
 * A viewer's child after the handshake: read the stream's shared buffer at
 * this viewer's own pace and send each message to the player. It starts at
 * the newest random-access point with the newest PAT and PMT first, so a
 * player decodes at once (with the video's parameter sets ahead of that key
 * frame when its access unit lacks them); a viewer that falls behind the
 * buffer jumps to the newest random-access point (counted) and never slows
 * anyone else; when a new publisher takes over, it waits for that
 * publisher's first random-access point. At each such seam every PID's continuity counter
 * continues or carries the discontinuity flag (`ContinuityKeeper`), so
 * players neither count lost packets nor miss the new time base.
 *
 * @module
 */

import { futexWait, futexWaitNow } from "../../ffi/shm.ts";
import type { SrtSocket } from "../../ffi/srt_socket.ts";
import {
  type ConnectionEnd,
  endOf,
  type LoopContext,
  report,
  sharedClockUs,
  STATS_INTERVAL_MS,
} from "./reports.ts";
import { LatencyHistogram } from "../media/latency_histogram.ts";
import { ContinuityKeeper } from "../media/continuity.ts";
import { TS_PACKET_SIZE } from "../media/mpegts.ts";
import { withParameterSets } from "../media/parameter_sets.ts";
import {
  MessageFlags,
  readBufferCounters,
  StreamReader,
  WAKE_WORD_OFFSET,
} from "../media/stream_buffer.ts";

/** How often the loop asks libsrt whether the connection still stands. */
const CHECK_INTERVAL_MS = 50;
/** How long the loop may keep the event loop waiting (stdin, signals, timers). */
const EVENT_LOOP_TURN_MS = 20;
/** Longest awaited wait between checks of the connection and the stop flag. */
const WAIT_MS = 100;
/** Messages sent per wakeup at most, so a huge backlog cannot starve the checks. */
const MAX_BATCH = 512;
/** What one SRT live message carries at most: seven TS packets. */
const MAX_SEND = 7 * TS_PACKET_SIZE;

/** Sends the stream until the connection ends or a stop is asked for. */
export async function playUntilClosed(
  context: LoopContext,
): Promise<ConnectionEnd> {
  const { connection, buffer, stop, stats } = context;
  const reader = StreamReader.attach(buffer.buffer);
  const message = new Uint8Array(reader.layout.slotPayload);
  let skips = 0;
  const latency = new LatencyHistogram();
  const continuity = new ContinuityKeeper();
  /**
   * True until the viewer has caught up with the writer: messages sent from
   * the joining point on are old by design and say nothing about latency.
   */
  let catchingUp = true;
  /** Until a random-access message: on joining, after a skip, after a new publisher. */
  let resync = true;
  /** The writer (publisher) generation of the last message read. */
  let generation: number | undefined;
  let nextStats = performance.now() + STATS_INTERVAL_MS;
  let lastTurn = performance.now();
  let nextCheck = 0;
  /** Sends what the buffer has for this viewer, up to a batch; returns how many messages it read. */
  const sendAvailable = (): number => {
    let batch = 0;
    while (batch < MAX_BATCH) {
      const result = reader.read(message);
      if (result.kind === "none") {
        catchingUp = false;
        break;
      }
      if (result.kind === "skipped") {
        skips++;
        resync = true;
        catchingUp = true;
        continue;
      }
      batch++;
      let packets: Uint8Array<ArrayBuffer> = message.subarray(0, result.length);
      const isRandomAccess = (result.flags & MessageFlags.RandomAccess) !== 0;
      // A new publisher: start again at its first random-access point, where
      // the continuity keeper marks the discontinuity on every PID.
      if (result.generation !== generation) {
        generation = result.generation;
        resync = true;
      }
      if (resync) {
        // A stream without random-access points (no video, no audio, say) starts anywhere.
        if (!isRandomAccess && readBufferCounters(buffer.buffer).randomAccessPoints > 0) continue;
        resync = false;
        const programInfo = reader.programInfo();
        continuity.splice(programInfo);
        // slice(): an ArrayBuffer-backed copy, as libsrt's send takes.
        if (programInfo !== undefined) send(connection, continuity.pass(programInfo.slice()));
        if (isRandomAccess) packets = withParameterSets(packets, reader.parameterSets());
      }
      // A full send buffer means the player cannot keep up: drop, never wait.
      if (send(connection, continuity.pass(packets)) && !catchingUp) {
        latency.record(sharedClockUs() - result.timeUs);
      }
    }
    return batch;
  };
  while (!stop.stopped) {
    const wakeValue = reader.wakeValue;
    let batch = 0;
    try {
      batch = sendAvailable();
    } catch {
      // A broken connection fails the send; the state below says why.
    }
    // libsrt's state and statistics calls take its locks: a few times a
    // second is enough, and cheaper than on every wakeup.
    const now = performance.now();
    if (now >= nextCheck) {
      nextCheck = now + CHECK_INTERVAL_MS;
      const end = endOf(context);
      if (end !== undefined) return end;
      stats.refresh();
    }
    if (performance.now() >= nextStats) {
      nextStats += STATS_INTERVAL_MS;
      report({ type: "stats", stats: stats.read(), viewer: { skips, latency: latency.summary() } });
    }
    // Wait for the publisher on this thread: an awaited wait hands off to a
    // pool thread and back on every wakeup, about 15 % of a viewer's CPU.
    // Every EVENT_LOOP_TURN_MS one wait is awaited instead (not waiting at
    // all after a full batch), so the event loop gets its turn for the main
    // process's messages and signals without delaying the next message.
    const backlog = batch >= MAX_BATCH;
    const sinceTurn = performance.now() - lastTurn;
    if (sinceTurn >= EVENT_LOOP_TURN_MS) {
      await futexWait(buffer, WAKE_WORD_OFFSET, {
        expected: wakeValue,
        timeoutMs: backlog ? 0 : WAIT_MS,
      });
      lastTurn = performance.now();
    } else if (!backlog) {
      futexWaitNow(buffer, WAKE_WORD_OFFSET, {
        expected: wakeValue,
        timeoutMs: EVENT_LOOP_TURN_MS - sinceTurn,
      });
    }
  }
  return { reason: "shutdown", detail: stop.detail ?? "closed by the server" };
}

/**
 * Sends `packets` as one SRT message, or as several of at most seven TS
 * packets when the continuity keeper made them longer than one, or nothing
 * when it dropped them all. True when every message was sent.
 */
function send(connection: SrtSocket, packets: Uint8Array<ArrayBuffer>): boolean {
  if (packets.length === 0) return true;
  if (packets.length <= MAX_SEND) return connection.send(packets);
  let sent = true;
  for (let offset = 0; offset < packets.length; offset += MAX_SEND) {
    sent = connection.send(packets.subarray(offset, offset + MAX_SEND)) && sent;
  }
  return sent;
}
