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
        wouldMissDeadline(estimate, { position, concurrency, waitedMs, nowMs }, timeoutMs)
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
/** How far back the pace of children becoming ready is measured. */
const PACE_WINDOW_MS = 1000;
/** Children that must have become ready within {@link PACE_WINDOW_MS} for a pace. */
const PACE_SAMPLES = 4;
/**
 * The newest starts kept: the quickest of them (or twice the average speed)
 * judges a caller that has waited less than {@link PATIENCE_MS}.
 */
const QUICKEST_OF = 8;

/**
 * How long children take to start (spawn to `ready`), and what that means
 * for a caller at a place in the queue.
 *
 * A queue is served at the pace children become ready, measured over the
 * last second: that pace counts everything that shares the CPUs at the
 * time (the handshakes of callers just handed over, the callers' own
 * retransmissions), which one start's duration does not. It is also wrong
 * for a moment when a burst begins: the starts under way then run while
 * everything else arrives at once, and take many times as long as the
 * ones after (bursts of 150 onto 48 ready children: 250-565 ms, then
 * 30-60 ms). So {@link wouldMissDeadline} judges a caller on the pace only
 * once it has waited {@link PATIENCE_MS}, and before that only on the
 * quickest recent start (or twice the average speed, if quicker).
 */
export class StartEstimate {
  #averageMs = FIRST_GUESS_MS;
  #samples = 0;
  #observedAt = -Infinity;
  /** The newest starts, in ms, at most {@link QUICKEST_OF}. */
  #recentStarts: number[] = [];
  /** When children became ready (monotonic ms), oldest first, within the pace window. */
  #readyAt: number[] = [];

  /** The moving average of start times, in ms. */
  get averageMs(): number {
    return this.#averageMs;
  }

  /** A child became ready `ms` after it was spawned, at `nowMs`. */
  observe(ms: number, nowMs: number): void {
    this.#averageMs = this.#samples === 0
      ? ms
      : this.#averageMs + SMOOTHING * (ms - this.#averageMs);
    this.#samples++;
    this.#observedAt = nowMs;
    this.#recentStarts.push(ms);
    if (this.#recentStarts.length > QUICKEST_OF) this.#recentStarts.shift();
    this.#readyAt.push(nowMs);
    this.#forgetBefore(nowMs - PACE_WINDOW_MS);
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
   * The ms between two children becoming ready, over the last second up to
   * `nowMs`; undefined when fewer than {@link PACE_SAMPLES} became ready in
   * it. Exact at each ready; between two, a pause longer than the pace
   * counts as if the next were due now, so a pace that stalls slows at once.
   */
  paceMs(nowMs: number): number | undefined {
    this.#forgetBefore(nowMs - PACE_WINDOW_MS);
    const count = this.#readyAt.length;
    const oldest = this.#readyAt[0];
    const newest = this.#readyAt[count - 1];
    if (oldest === undefined || newest === undefined || count < PACE_SAMPLES) return undefined;
    return Math.max((newest - oldest) / (count - 1), (nowMs - oldest) / count);
  }

  /**
   * The wait, in ms, of the caller at `position` (1 for the head) until a
   * child is ready for it, at the pace children became ready in the last
   * second; without a pace (fewer than {@link PACE_SAMPLES} ready in it),
   * at the average start with `concurrency` children starting at once, each
   * going to the queue's head when ready.
   */
  expectedWaitMs(position: number, concurrency: number, nowMs: number): number {
    const pace = this.paceMs(nowMs);
    if (pace !== undefined) return position * pace;
    return Math.ceil(position / Math.max(1, concurrency)) * this.#averageMs;
  }

  /**
   * The wait of the caller at `position` if every child started,
   * `concurrency` at once, as fast as the quickest of the recent starts or
   * at twice the average speed, whichever is quicker: the benefit of the
   * doubt. The first holds while a burst's first slow starts lift the
   * average; the second while starts are steady, when it is the kinder.
   */
  shortestWaitMs(position: number, concurrency: number): number {
    const quickest = Math.min(this.#averageMs / 2, ...this.#recentStarts);
    return Math.ceil(position / Math.max(1, concurrency)) * quickest;
  }

  #forgetBefore(sinceMs: number): void {
    let stale = 0;
    while (stale < this.#readyAt.length && this.#readyAt[stale]! < sinceMs) stale++;
    if (stale > 0) this.#readyAt.splice(0, stale);
  }
}

/**
 * Until a caller has waited this long, it is shed only if it would miss its
 * deadline even at the quickest recent start (or twice the average speed,
 * if quicker); after that, at the pace children become ready. A caller shed
 * then still has half of libsrt's default timeout to hear it.
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
 * A caller that has waited less than {@link PATIENCE_MS} is judged on
 * {@link StartEstimate.shortestWaitMs}, so that it is refused that early
 * only when it could hardly be served in time: judged on twice the average
 * speed alone, the average lifted by a burst's first slow starts shed
 * callers that would have had their child in time (81-89 of 150 connected
 * with 48 children ready, against 98-140 judged this way, and 140 when no
 * caller was shed at all). After that, on {@link StartEstimate.expectedWaitMs}.
 */
export function wouldMissDeadline(
  estimate: StartEstimate,
  queue: { position: number; concurrency: number; waitedMs: number; nowMs: number },
  timeoutMs = DEFAULT_CALLER_TIMEOUT_MS,
): boolean {
  if (timeoutMs === 0) return false;
  const readyInMs = queue.waitedMs < PATIENCE_MS
    ? estimate.shortestWaitMs(queue.position, queue.concurrency)
    : estimate.expectedWaitMs(queue.position, queue.concurrency, queue.nowMs);
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
