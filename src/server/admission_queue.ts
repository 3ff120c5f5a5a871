/**
 * Callers admitted while no child was ready, waiting first in, first out
 * for one. A waiting caller has no socket and no child yet: its handshake
 * retransmissions (every 250 ms from a libsrt caller) keep reaching the
 * listening socket, and each one refreshes it here. So a caller that gave
 * up falls silent, and is dropped before it costs a child; one still
 * retransmitting is handed to the next ready child with its newest
 * handshake.
 *
 * {@link StartEstimate} says how long the queue's tail will wait, from how
 * long children have been taking to start: a caller that would wait past
 * libsrt's default connect timeout is refused at once instead (shed).
 *
 * Pure: time is passed in.
 *
 * @module
 */

import type { Endpoint } from "../ipc/messages.ts";
import { CALLER_SILENCE_MS } from "../protocol/caller_presence.ts";

/** One caller waiting for a child. */
export interface WaitingCaller {
  readonly peer: Endpoint;
  readonly peerKey: string;
  readonly ip: string;
  /** Its newest connection-starting handshake: the child answers this one. */
  handshake: Uint8Array;
  readonly rendezvous: boolean;
  readonly backoffKey: string | undefined;
  /** Monotonic ms of its first admitted handshake. */
  readonly since: number;
  /** Monotonic ms of its newest handshake. */
  lastSeen: number;
  /** The time between its two newest handshakes: how often it resends. */
  intervalMs?: number;
}

/**
 * How long a waiting caller may go without a retransmission before it counts
 * as gone. Non-blocking libsrt callers (ffmpeg, srt-live-transmit, OBS)
 * resend every 250 ms, a blocking `srt_connect` about once a second
 * (docs/design.md, "Ghost viewers"): a caller is given 2.4 of its own
 * intervals, at least {@link MIN_SILENCE_MS}, and {@link MAX_SILENCE_MS}
 * until its interval is known. Longer would spend children on callers that
 * gave up.
 */
export const MIN_SILENCE_MS = 600;
/** The silence after which a child, too, counts a held caller as gone. */
export const MAX_SILENCE_MS = CALLER_SILENCE_MS;

/** How long `caller` may stay silent before it counts as gone. */
export function silenceAllowedMs(caller: WaitingCaller): number {
  if (caller.intervalMs === undefined) return MAX_SILENCE_MS;
  return Math.min(MAX_SILENCE_MS, Math.max(MIN_SILENCE_MS, 2.4 * caller.intervalMs));
}

export class AdmissionQueue {
  /** In arrival order: a Map iterates in insertion order. */
  #callers = new Map<string, WaitingCaller>();
  #perIp = new Map<string, number>();

  get size(): number {
    return this.#callers.size;
  }

  has(peerKey: string): boolean {
    return this.#callers.has(peerKey);
  }

  /** Callers from `ip` waiting. */
  fromIp(ip: string): number {
    return this.#perIp.get(ip) ?? 0;
  }

  /** The longest wait so far, in ms (0 when empty). */
  longestWaitMs(nowMs: number): number {
    for (const caller of this.#callers.values()) return Math.max(0, nowMs - caller.since);
    return 0;
  }

  push(caller: WaitingCaller): void {
    if (this.#callers.has(caller.peerKey)) {
      throw new Error(`Caller ${caller.peerKey} is waiting already`);
    }
    this.#callers.set(caller.peerKey, caller);
    this.#perIp.set(caller.ip, this.fromIp(caller.ip) + 1);
  }

  /** A retransmission from a waiting caller: it is still there. */
  refresh(peerKey: string, handshake: Uint8Array, nowMs: number): void {
    const caller = this.#callers.get(peerKey);
    if (caller === undefined) return;
    caller.handshake = handshake;
    caller.intervalMs = nowMs - caller.lastSeen;
    caller.lastSeen = nowMs;
  }

  /** The caller that has waited longest, out of the queue. */
  shift(): WaitingCaller | undefined {
    for (const caller of this.#callers.values()) {
      this.#remove(caller);
      return caller;
    }
    return undefined;
  }

  /** Takes out every caller silent for longer than it may be ({@link silenceAllowedMs}), and returns them. */
  dropSilent(nowMs: number): WaitingCaller[] {
    const gone = [...this.#callers.values()].filter((c) =>
      nowMs - c.lastSeen > silenceAllowedMs(c)
    );
    for (const caller of gone) this.#remove(caller);
    return gone;
  }

  /**
   * Takes out every caller that, at its place in the queue, could no longer
   * get its child before `timeoutMs` ({@link wouldMissDeadline}), and
   * returns them. A caller already waiting longer than that is kept: it
   * still retransmits, so its own timeout is longer.
   */
  dropLate(
    nowMs: number,
    estimate: StartEstimate,
    concurrency: number,
    timeoutMs = DEFAULT_CALLER_TIMEOUT_MS,
  ): WaitingCaller[] {
    const late: WaitingCaller[] = [];
    /** Callers ahead that keep their place: each takes a child before this one. */
    let ahead = 0;
    for (const caller of this.#callers.values()) {
      const waitedMs = nowMs - caller.since;
      const position = ahead + 1;
      if (
        waitedMs < timeoutMs &&
        wouldMissDeadline(estimate, { position, concurrency, waitedMs }, timeoutMs)
      ) {
        late.push(caller);
      } else ahead++;
    }
    for (const caller of late) this.#remove(caller);
    return late;
  }

  /** Empties the queue and returns who was in it. */
  clear(): WaitingCaller[] {
    const all = [...this.#callers.values()];
    this.#callers.clear();
    this.#perIp.clear();
    return all;
  }

  #remove(caller: WaitingCaller): void {
    this.#callers.delete(caller.peerKey);
    const count = this.fromIp(caller.ip) - 1;
    if (count > 0) this.#perIp.set(caller.ip, count);
    else this.#perIp.delete(caller.ip);
  }
}

/** libsrt's default connect timeout (SRTO_CONNTIMEO): how long a default caller waits. */
export const DEFAULT_CALLER_TIMEOUT_MS = 3000;

/**
 * What a caller needs after its hand-over, within its timeout: its child
 * answers the conclusion, asks the main process for the access decision and
 * is accepted (a few ms unloaded), with slack for a busy machine.
 */
export const HANDSHAKE_AFTER_HANDOVER_MS = 500;

/** The start time assumed before any child has started. */
const FIRST_GUESS_MS = 150;
/** Weight of the newest start in the moving average. */
const SMOOTHING = 0.2;
/** How recent a start must be for the average to describe starts now. */
const FRESH_MS = 1000;

/**
 * How long children take to start (spawn to `ready`), as a moving average
 * of the ones seen, and what that means for a caller at a place in the
 * queue.
 */
export class StartEstimate {
  #averageMs = FIRST_GUESS_MS;
  #samples = 0;
  #observedAt = -Infinity;

  /** The moving average of start times, in ms. */
  get averageMs(): number {
    return this.#averageMs;
  }

  /**
   * A child became ready `ms` after it was spawned, at `nowMs`. (Following
   * slower starts faster than quicker ones was tried: on a burst of 150 it
   * shed callers that would have had their child in time, and avoided no
   * timeout. The queue is judged again as each child becomes ready.)
   */
  observe(ms: number, nowMs: number): void {
    this.#averageMs = this.#samples === 0
      ? ms
      : this.#averageMs + SMOOTHING * (ms - this.#averageMs);
    this.#samples++;
    this.#observedAt = nowMs;
  }

  /**
   * Whether a start was seen within the last second: only then does the
   * average say how long starts take now (after a quiet spell it may be a
   * start at boot, or under another load).
   */
  fresh(nowMs: number): boolean {
    return nowMs - this.#observedAt < FRESH_MS;
  }

  /**
   * The wait, in ms, of the caller at `position` (1 for the head) until a
   * child is ready for it, when `concurrency` children start at once and
   * each child goes to the queue's head when ready.
   */
  waitMs(position: number, concurrency: number): number {
    return Math.ceil(position / Math.max(1, concurrency)) * this.#averageMs;
  }
}

/**
 * Until a caller has waited this long, it is shed only if it would miss its
 * deadline even were children to start twice as fast as the estimate says.
 */
export const PATIENCE_MS = 1500;

/**
 * Whether a caller at `position` in the queue cannot have a child before it
 * gives up: its wait, plus its handshake after the hand-over, would end
 * past `timeoutMs` (the connect timeout callers are assumed to use,
 * `--caller-timeout`; libsrt's default, {@link DEFAULT_CALLER_TIMEOUT_MS},
 * unless told) from its first handshake. A `timeoutMs` of 0 says callers
 * wait as long as it takes: none is late.
 *
 * Starts slow down for a moment as a burst's first connections come up
 * (their handshakes share the CPUs), and speed up again: judged on that
 * moment's estimate alone, callers that would have had their child in time
 * were shed (84 of 150 connected with 64 children ready, the last at 1.3 s).
 * So a caller that has waited less than {@link PATIENCE_MS} is shed only
 * if it would miss its deadline at twice the estimated speed; after that,
 * on the estimate itself, with time left to tell it before its timeout.
 */
export function wouldMissDeadline(
  estimate: StartEstimate,
  queue: { position: number; concurrency: number; waitedMs: number },
  timeoutMs = DEFAULT_CALLER_TIMEOUT_MS,
): boolean {
  if (timeoutMs === 0) return false;
  const speedUp = queue.waitedMs < PATIENCE_MS ? 2 : 1;
  const readyInMs = estimate.waitMs(queue.position, queue.concurrency) / speedUp;
  return queue.waitedMs + readyInMs + HANDSHAKE_AFTER_HANDOVER_MS > timeoutMs;
}

/**
 * How long a caller the main process refused is refused again without a
 * second look. Its handshake retransmissions sent before the rejection
 * reached it may still wait in the listening socket's receive queue (a
 * burst fills it), and one read after the queue emptied would otherwise be
 * admitted: a child would complete a connection that its caller, gone after
 * the rejection, never sees, and that connection would hold the stream
 * against the caller's own retry.
 */
export const REFUSAL_MEMORY_MS = 3000;
/** Refused callers remembered at most: the oldest are forgotten first. */
export const REFUSALS_REMEMBERED = 50_000;

/**
 * The connection attempts refused in the last {@link REFUSAL_MEMORY_MS}, by
 * peer and attempt (`host:port#socket-id`, see the supervisor's `attemptKey`).
 */
export class RecentRefusals {
  /** When each is forgotten, in insertion order (so in time order). */
  #until = new Map<string, number>();

  get size(): number {
    return this.#until.size;
  }

  /** `peerKey` was refused at `nowMs`. */
  add(peerKey: string, nowMs: number): void {
    this.#until.delete(peerKey);
    this.#until.set(peerKey, nowMs + REFUSAL_MEMORY_MS);
    for (const [key, until] of this.#until) {
      if (until > nowMs && this.#until.size <= REFUSALS_REMEMBERED) break;
      this.#until.delete(key);
    }
  }

  /** Whether `peerKey` was refused less than {@link REFUSAL_MEMORY_MS} before `nowMs`. */
  has(peerKey: string, nowMs: number): boolean {
    const until = this.#until.get(peerKey);
    return until !== undefined && until > nowMs;
  }
}
