/**
 * The output process's side of HTTP access (the main process decides:
 * src/server/media_access.ts). Each request for a stream's media asks
 * {@link AccessGate.check}; the first of a playback session goes to the
 * main process as an `access-request`, and its answer is kept for the
 * `ttlMs` it comes with (15 s at most by default), per stream, client
 * address and credential (query and bearer token), so an HLS player's
 * playlist and segment requests do not each ask. Requests alike that come
 * while one is asked wait for the same answer. No answer within the wait
 * is `"unanswered"` (the server answers 503); a reload drops every kept
 * answer. Time is passed in.
 *
 * @module
 */

import type { MediaAccessAnswer, MediaAccessRequest } from "../ipc/output_messages.ts";

/** Asks waiting at once; more are answered `"unanswered"` at once. */
export const MAX_PENDING_ACCESS = 1000;
/** Answers kept at once; more drop the oldest. */
export const MAX_KEPT_ACCESS = 10_000;
/** The wait before the main process first says (`access-rules`). */
export const DEFAULT_ACCESS_WAIT_MS = 4000;

export type AccessVerdict = MediaAccessAnswer | "unanswered";

interface Pending {
  id: number;
  key: string;
  /** The rules' generation it was asked under: an answer from before a reload is not kept. */
  generation: number;
  resolve(verdict: AccessVerdict): void;
  promise: Promise<AccessVerdict>;
  timer: ReturnType<typeof setTimeout>;
}

export class AccessGate {
  #send: (id: number, request: MediaAccessRequest) => void;
  #now: () => number;
  #waitMs = DEFAULT_ACCESS_WAIT_MS;
  #kept = new Map<string, { answer: MediaAccessAnswer; until: number }>();
  #pendingByKey = new Map<string, Pending>();
  #pendingById = new Map<number, Pending>();
  #nextId = 1;
  #generation = 0;

  /** `send` carries an `access-request` to the main process; `now` is monotonic milliseconds. */
  constructor(
    send: (id: number, request: MediaAccessRequest) => void,
    now: () => number = () => performance.now(),
  ) {
    this.#send = send;
    this.#now = now;
  }

  /** Answers kept now (for tests). */
  get kept(): number {
    return this.#kept.size;
  }

  /** May `request`'s client watch? A kept answer, or the main process's. */
  check(request: MediaAccessRequest): Promise<AccessVerdict> {
    const host = request.peer.replace(/:[0-9]+$/, "");
    const key = [request.stream, request.protocol, host, request.query, request.bearer ?? ""]
      .join("\n");
    const kept = this.#kept.get(key);
    if (kept !== undefined) {
      if (this.#now() < kept.until) return Promise.resolve(kept.answer);
      this.#kept.delete(key);
    }
    const pending = this.#pendingByKey.get(key);
    if (pending !== undefined) return pending.promise;
    if (this.#pendingById.size >= MAX_PENDING_ACCESS) return Promise.resolve("unanswered");
    const id = this.#nextId++;
    const { promise, resolve } = Promise.withResolvers<AccessVerdict>();
    const entry: Pending = {
      id,
      key,
      generation: this.#generation,
      resolve,
      promise,
      timer: setTimeout(() => this.#settle(entry, "unanswered"), this.#waitMs),
    };
    this.#pendingByKey.set(key, entry);
    this.#pendingById.set(id, entry);
    this.#send(id, request);
    return promise;
  }

  /** The main process answered `id` (an unknown or late id is ignored). */
  answered(id: number, answer: MediaAccessAnswer): void {
    const pending = this.#pendingById.get(id);
    if (pending === undefined) return;
    if (pending.generation === this.#generation && answer.ttlMs > 0) {
      if (this.#kept.size >= MAX_KEPT_ACCESS) this.#dropOldest();
      this.#kept.set(pending.key, { answer, until: this.#now() + answer.ttlMs });
    }
    this.#settle(pending, answer);
  }

  /** The rules may have changed: kept answers go; later asks wait up to `waitMs`. */
  reset(waitMs: number): void {
    this.#waitMs = waitMs;
    this.#generation++;
    this.#kept.clear();
  }

  /** Every waiting ask ends unanswered (the process stops). */
  close(): void {
    for (const pending of [...this.#pendingById.values()]) this.#settle(pending, "unanswered");
  }

  #settle(pending: Pending, verdict: AccessVerdict): void {
    clearTimeout(pending.timer);
    this.#pendingById.delete(pending.id);
    if (this.#pendingByKey.get(pending.key) === pending) this.#pendingByKey.delete(pending.key);
    pending.resolve(verdict);
  }

  #dropOldest(): void {
    const now = this.#now();
    for (const [key, entry] of this.#kept) if (entry.until <= now) this.#kept.delete(key);
    // Still full: the oldest kept go (a Map keeps insertion order).
    for (const key of this.#kept.keys()) {
      if (this.#kept.size < MAX_KEPT_ACCESS) break;
      this.#kept.delete(key);
    }
  }
}
