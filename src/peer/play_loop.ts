/**
 * A viewer's child after the handshake: read the stream's shared buffer at
 * this viewer's own pace and send each message to the player. What to send
 * is the {@link StreamFollower}'s business (src/media/stream_follower.ts,
 * shared with the HTTP media output): it starts at the newest
 * random-access point with the newest PAT and PMT first, so a player
 * decodes at once (with the video's parameter sets ahead of that key frame
 * when its access unit lacks them); a viewer that falls behind the buffer
 * jumps to the newest random-access point (counted) and never slows anyone
 * else; when a new publisher takes over, it waits for that publisher's
 * first random-access point; at each such seam every PID's continuity
 * counter continues or carries the discontinuity flag, so players neither
 * count lost packets nor miss the new time base.
 *
 * A viewer with nothing to send sleeps in the kernel: on the stream's wake
 * word, without a timeout worth the name, while a blocking receive on
 * another pool thread waits for the connection's end (`watchEnd`), and a
 * stop ends the wait at once. No timer runs once its statistics stand
 * still (`StatsSchedule`).
 *
 * @module
 */

import { futexWait, futexWaitNow } from "../../ffi/shm.ts";
import { SrtOption, type SrtSocket } from "../../ffi/srt_socket.ts";
import {
  type ConnectionEnd,
  endOf,
  type LoopContext,
  report,
  sharedClockUs,
  StatsSchedule,
} from "./reports.ts";
import { LatencyHistogram } from "../media/latency_histogram.ts";
import { TS_PACKET_SIZE } from "../media/mpegts.ts";
import { WAKE_WORD_OFFSET } from "../media/stream_buffer.ts";
import { StreamFollower } from "../media/stream_follower.ts";

/**
 * How often a sending loop asks libsrt whether the connection still stands;
 * an idle one is told (`watchEnd`).
 */
const CHECK_INTERVAL_MS = 50;
/** How long the loop may keep the event loop waiting (stdin, signals, timers). */
const EVENT_LOOP_TURN_MS = 20;
/**
 * The awaited wait for the publisher: the stop flag, the connection's end
 * and due reports end it sooner, so only the futex call needs a bound.
 */
const IDLE_WAIT_MS = 60_000;
/** Larger than any SRT live message, for what a player might send. */
const PEER_MESSAGE = 1500;
/** Messages sent per wakeup at most, so a huge backlog cannot starve the checks. */
const MAX_BATCH = 512;
/** What one SRT live message carries at most: seven TS packets. */
const MAX_SEND = 7 * TS_PACKET_SIZE;

/** Sends the stream until the connection ends or a stop is asked for. */
export async function playUntilClosed(
  context: LoopContext,
): Promise<ConnectionEnd> {
  const { connection, buffer, stop, stats } = context;
  const follower = StreamFollower.attach(buffer.buffer);
  const latency = new LatencyHistogram();
  /**
   * True until the viewer has caught up with the writer: messages sent from
   * the joining point on are old by design and say nothing about latency.
   */
  let catchingUp = true;
  const schedule = new StatsSchedule(performance.now());
  let lastTurn = performance.now();
  let nextCheck = 0;
  const wakeup = new Wakeup();
  /** The awaited wait on the wake word in flight, if any. */
  let waiting: Promise<boolean> | undefined;
  const watch = { ended: false, loopDone: false };
  watchEnd(connection, watch, wakeup).catch(() => {
    watch.ended = true;
    wakeup.poke();
  });
  /** Sends what the buffer has for this viewer, up to a batch; returns how many messages it read. */
  const sendAvailable = (): number => {
    let batch = 0;
    while (batch < MAX_BATCH) {
      const step = follower.next();
      if (step.kind === "none") {
        catchingUp = false;
        break;
      }
      if (step.kind === "skipped") {
        catchingUp = true;
        continue;
      }
      batch++;
      if (step.kind === "dropped") continue;
      if (step.programInfo !== undefined) send(connection, step.programInfo);
      // A full send buffer means the player cannot keep up: drop, never wait.
      if (send(connection, step.packets) && !catchingUp) {
        latency.record(sharedClockUs() - step.timeUs);
      }
    }
    return batch;
  };
  try {
    while (!stop.stopped) {
      const wakeValue = follower.wakeValue;
      let batch = 0;
      try {
        batch = sendAvailable();
      } catch {
        // A broken connection fails the send; the state below says why.
      }
      // libsrt's state and statistics calls take its locks: a few times a
      // second is enough, and cheaper than on every wakeup.
      const now = performance.now();
      if (batch > 0) schedule.moved(now);
      if (now >= nextCheck || watch.ended) {
        nextCheck = now + CHECK_INTERVAL_MS;
        const end = endOf(context);
        if (end !== undefined) return end;
        stats.refresh();
      }
      if (schedule.due(performance.now())) {
        const reading = stats.read();
        const viewer = { skips: follower.skips, latency: latency.summary() };
        report({ type: "stats", stats: reading, viewer });
        schedule.reported(performance.now(), reading, viewer);
      }
      // Wait for the publisher on this thread: an awaited wait hands off to a
      // pool thread and back on every wakeup, about 15 % of a viewer's CPU.
      // Every EVENT_LOOP_TURN_MS one wait is awaited instead (not waiting at
      // all after a full batch), so the event loop gets its turn for the main
      // process's messages and signals without delaying the next message.
      // That awaited wait lasts until the publisher writes, the connection
      // ends, a stop or a due report: an idle viewer sleeps.
      const backlog = batch >= MAX_BATCH;
      const sinceTurn = performance.now() - lastTurn;
      if (sinceTurn >= EVENT_LOOP_TURN_MS) {
        if (backlog) {
          await futexWait(buffer, WAKE_WORD_OFFSET, { expected: wakeValue, timeoutMs: 0 });
        } else {
          if (waiting === undefined) {
            const wait = futexWait(buffer, WAKE_WORD_OFFSET, {
              expected: wakeValue,
              timeoutMs: IDLE_WAIT_MS,
            });
            waiting = wait;
            const done = () => {
              if (waiting === wait) waiting = undefined;
              wakeup.poke();
            };
            wait.then(done, done);
          }
          // An end watch that stopped while libsrt still says connected
          // (RCVSYN refused, say) leaves the checks to a poll.
          const limit = watch.ended ? CHECK_INTERVAL_MS : Infinity;
          await stop.until(wakeup.next(), Math.min(limit, schedule.delayMs(performance.now())));
        }
        lastTurn = performance.now();
      } else if (!backlog) {
        futexWaitNow(buffer, WAKE_WORD_OFFSET, {
          expected: wakeValue,
          timeoutMs: EVENT_LOOP_TURN_MS - sinceTurn,
        });
      }
    }
  } finally {
    watch.loopDone = true;
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

/**
 * Wakes one awaited wait of the loop: `next()` resolves at the next
 * `poke()`, or at once when poked while nothing waited. Pokes come from
 * work that runs on its own (a futex wait, the end watch), and no promise
 * that lives as long as the connection collects a reaction per wait. The
 * loop looks at what woke it each turn (the buffer, `watch.ended`), so a
 * poke taken by a wait that had already timed out loses nothing.
 */
class Wakeup {
  #poked = false;
  #waiter: PromiseWithResolvers<void> | undefined;

  next(): Promise<void> {
    if (this.#poked) {
      this.#poked = false;
      return Promise.resolve();
    }
    this.#waiter ??= Promise.withResolvers<void>();
    return this.#waiter.promise;
  }

  poke(): void {
    const waiter = this.#waiter;
    if (waiter === undefined) {
      this.#poked = true;
      return;
    }
    this.#waiter = undefined;
    waiter.resolve();
  }
}

/**
 * Waits on a pool thread for the connection's end: a player sends no data,
 * so a blocking receive returns only when the connection breaks or closes
 * (libsrt checks once a second meanwhile). What a player does send is
 * dropped. Sets `watch.ended` and pokes the loop when it ends.
 */
async function watchEnd(
  connection: SrtSocket,
  watch: { ended: boolean; loopDone: boolean },
  wakeup: Wakeup,
): Promise<void> {
  const message = new Uint8Array(PEER_MESSAGE);
  try {
    connection.setBoolean(SrtOption.RCVSYN, true);
  } catch {
    // Already broken: the receive below fails at once.
  }
  // Each turn waits for a message from the player: bounded by what it sends.
  while (!watch.loopDone && await connection.receiveWaiting(message) >= 0);
  watch.ended = true;
  wakeup.poke();
}
