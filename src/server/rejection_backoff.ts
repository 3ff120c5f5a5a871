/**
 * Backs off callers that are refused again and again: a client retrying
 * with a wrong passphrase or a refused stream id would otherwise cost a
 * child process and a log line per attempt.
 *
 * Keyed on the source IP, the stream id of the caller's conclusion and
 * whether it offers key material: all the main process knows before a child
 * runs (a passphrase itself is checked inside the child's libsrt), so a
 * caller that adds a passphrase is a new key. After each rejection in a row, the
 * key's attempts are dropped for an interval that doubles from
 * {@link BackoffPolicy.firstMs} up to {@link BackoffPolicy.maxMs}; the first
 * attempt after it goes through, so a caller that fixed its passphrase gets
 * in on its next try, and the others wait until that one is decided. Only
 * one rejection counts per interval: attempts admitted before it began
 * (several at once, or before the first rejection was known) do not
 * lengthen it again. A success forgets the key, and so does a quiet period
 * with no rejection.
 *
 * Pure: time is passed in (monotonic ms), and at most
 * {@link BackoffPolicy.maxKeys} keys are held (the oldest go first).
 *
 * @module
 */

import type { ConclusionFacts } from "../protocol/conclusion.ts";
import { RejectCode } from "../protocol/reject_codes.ts";

/**
 * Whether a refusal with `code` counts toward a caller's backoff: only those
 * the caller's own settings cause, which retrying unchanged cannot fix (a
 * malformed id, the hook's no, a forbidden mode). A stream that is full
 * (1402), has no publisher yet (1404) or has a live one (1409, as while an
 * encoder's old connection lingers), or a server error or shutdown, may go
 * away by itself, and a player or encoder retrying for it must not be held
 * off for up to half a minute.
 */
export function countsTowardBackoff(code: number): boolean {
  return code === RejectCode.BadRequest || code === RejectCode.Unauthorized ||
    code === RejectCode.Forbidden;
}

export interface BackoffPolicy {
  /** The interval after the first rejection. */
  firstMs: number;
  /** The longest interval; each rejection in a row doubles it up to this. */
  maxMs: number;
  /** A key whose interval ended this long ago, with no rejection since, starts over. */
  quietMs: number;
  /** Keys held at most; bounds memory when many sources or stream ids are refused. */
  maxKeys: number;
}

export const REJECTION_BACKOFF: BackoffPolicy = {
  firstMs: 1000,
  maxMs: 30_000,
  quietMs: 60_000,
  maxKeys: 4096,
};

/** What to do with an attempt. */
export type BackoffVerdict =
  | { drop: false }
  | {
    drop: true;
    /** The first attempt dropped in this interval: the one to log. */
    first: boolean;
    /** Rejections in a row so far. */
    rejections: number;
    /** The length of this interval. */
    intervalMs: number;
    /** How much of it is left; 0 when only the attempt let through is awaited. */
    remainingMs: number;
  };

interface Entry {
  rejections: number;
  intervalMs: number;
  untilMs: number;
  logged: boolean;
  /** The attempt let through after the interval is not decided yet. */
  probing: boolean;
}

/** The key of a source IP and what its conclusion says (the IP cannot contain a newline). */
export function backoffKey(ip: string, conclusion: ConclusionFacts): string {
  return `${ip}\n${conclusion.keyMaterial ? "key" : "clear"}\n${conclusion.streamId}`;
}

export class RejectionBackoff {
  #policy: BackoffPolicy;
  #entries = new Map<string, Entry>();

  constructor(policy: BackoffPolicy = REJECTION_BACKOFF) {
    this.#policy = policy;
  }

  /** Keys held (at most {@link BackoffPolicy.maxKeys}). */
  get size(): number {
    return this.#entries.size;
  }

  /** Whether an attempt for `key` at `nowMs` is dropped. */
  check(key: string, nowMs: number): BackoffVerdict {
    const entry = this.#entries.get(key);
    if (entry === undefined) return { drop: false };
    if (nowMs >= entry.untilMs && !entry.probing) {
      if (nowMs - entry.untilMs >= this.#policy.quietMs) this.#entries.delete(key);
      return { drop: false };
    }
    const first = !entry.logged;
    entry.logged = true;
    return {
      drop: true,
      first,
      rejections: entry.rejections,
      intervalMs: entry.intervalMs,
      remainingMs: Math.max(0, entry.untilMs - nowMs),
    };
  }

  /**
   * An attempt for `key` that {@link check} let through was admitted: for a
   * key with rejections, the others wait until it is decided.
   */
  admitted(key: string): void {
    const entry = this.#entries.get(key);
    if (entry !== undefined) entry.probing = true;
  }

  /** An admitted attempt for `key` ended neither accepted nor refused (it timed out, or crashed). */
  settled(key: string): void {
    const entry = this.#entries.get(key);
    if (entry !== undefined) entry.probing = false;
  }

  /**
   * An attempt for `key` was refused at `nowMs`; returns the interval in
   * force. During an interval, a rejection changes nothing: it is of an
   * attempt admitted before the interval began.
   */
  rejected(key: string, nowMs: number): number {
    const policy = this.#policy;
    const held = this.#entries.get(key);
    if (held !== undefined && nowMs < held.untilMs) return held.intervalMs;
    const fresh = held === undefined || nowMs - held.untilMs >= policy.quietMs;
    const rejections = fresh ? 1 : held.rejections + 1;
    const intervalMs = Math.min(policy.maxMs, policy.firstMs * 2 ** Math.min(rejections - 1, 30));
    // Deleted and set again, so the Map's order is the order of the last rejection.
    this.#entries.delete(key);
    this.#entries.set(key, {
      rejections,
      intervalMs,
      untilMs: nowMs + intervalMs,
      logged: false,
      probing: false,
    });
    for (const oldest of this.#entries.keys()) {
      if (this.#entries.size <= policy.maxKeys) break;
      this.#entries.delete(oldest);
    }
    return intervalMs;
  }

  /** An attempt for `key` got in: it starts over. */
  succeeded(key: string): void {
    this.#entries.delete(key);
  }
}
