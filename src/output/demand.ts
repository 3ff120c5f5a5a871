/**
 * The output process's side of pulling a stream for its HTTP viewers (the
 * main process decides: src/server/http_demand.ts). A request already
 * allowed (access.ts) for a stream this process has no buffer of asks
 * {@link DemandGate.ask}; the main process starts a pull of the stream if
 * a rule can pull it, and answers how long the request may wait for the
 * stream to begin: 0 when nothing will pull it (the request is answered as
 * for any stream the process does not have, `404`).
 *
 * Asks for a stream while one is under way share its answer. A 0 is kept
 * per stream for {@link KEPT_REFUSAL_MS}, so a client asking again and
 * again for a stream nothing pulls does not make each request a message to
 * the main process; every new name costs it a fresh access ask, which
 * access.ts limits per client. No answer within the wait is
 * `"unanswered"`; a reload (`access-rules`) drops what is kept. Time is
 * passed in.
 *
 * @module
 */

import { DEFAULT_ACCESS_WAIT_MS } from "./access.ts";

/** Streams asked about at once; asks for more are `"unanswered"` at once. */
export const MAX_PENDING_DEMANDS = 1000;
/** How long a "nothing pulls it" is kept. */
export const KEPT_REFUSAL_MS = 5000;
/** Streams whose refusal is kept at once; more drop the oldest. */
const MAX_KEPT_REFUSALS = 10_000;

/** How long to wait for the stream (0: nothing pulls it), or no answer in time. */
export type DemandVerdict = number | "unanswered";

interface Pending {
  id: number;
  stream: string;
  resolve(verdict: DemandVerdict): void;
  promise: Promise<DemandVerdict>;
  timer: ReturnType<typeof setTimeout>;
  /** The rules' generation it was asked under: a refusal from before a reload is not kept. */
  generation: number;
}

export class DemandGate {
  #send: (id: number, stream: string) => void;
  #now: () => number;
  #waitMs = DEFAULT_ACCESS_WAIT_MS;
  #pendingByStream = new Map<string, Pending>();
  #pendingById = new Map<number, Pending>();
  /** Streams nothing pulls, until when that is kept; oldest first. */
  #refused = new Map<string, number>();
  #nextId = 1;
  #generation = 0;

  /** `send` carries a `demand` to the main process; `now` is monotonic milliseconds. */
  constructor(
    send: (id: number, stream: string) => void,
    now: () => number = () => performance.now(),
  ) {
    this.#send = send;
    this.#now = now;
  }

  /** Asks the main process to pull `stream`: how long to wait for it, 0 when nothing will. */
  ask(stream: string): Promise<DemandVerdict> {
    const refusedUntil = this.#refused.get(stream);
    if (refusedUntil !== undefined) {
      if (this.#now() < refusedUntil) return Promise.resolve(0);
      this.#refused.delete(stream);
    }
    const pending = this.#pendingByStream.get(stream);
    if (pending !== undefined) return pending.promise;
    if (this.#pendingById.size >= MAX_PENDING_DEMANDS) return Promise.resolve("unanswered");
    const id = this.#nextId++;
    const { promise, resolve } = Promise.withResolvers<DemandVerdict>();
    const entry: Pending = {
      id,
      stream,
      resolve,
      promise,
      generation: this.#generation,
      timer: setTimeout(() => this.#settle(entry, "unanswered"), this.#waitMs),
    };
    this.#pendingByStream.set(stream, entry);
    this.#pendingById.set(id, entry);
    this.#send(id, stream);
    return promise;
  }

  /** The main process answered `id` (an unknown or late id is ignored). */
  answered(id: number, waitMs: number): void {
    const pending = this.#pendingById.get(id);
    if (pending === undefined) return;
    if (waitMs === 0 && pending.generation === this.#generation) {
      this.#refused.delete(pending.stream);
      if (this.#refused.size >= MAX_KEPT_REFUSALS) {
        this.#refused.delete(this.#refused.keys().next().value!);
      }
      this.#refused.set(pending.stream, this.#now() + KEPT_REFUSAL_MS);
    }
    this.#settle(pending, waitMs);
  }

  /** The rules may have changed: kept refusals go; later asks wait up to `waitMs` for an answer. */
  reset(waitMs: number): void {
    this.#waitMs = waitMs;
    this.#generation++;
    this.#refused.clear();
  }

  /** Every waiting ask ends unanswered (the process stops). */
  close(): void {
    for (const pending of [...this.#pendingById.values()]) this.#settle(pending, "unanswered");
  }

  #settle(pending: Pending, verdict: DemandVerdict): void {
    clearTimeout(pending.timer);
    this.#pendingById.delete(pending.id);
    if (this.#pendingByStream.get(pending.stream) === pending) {
      this.#pendingByStream.delete(pending.stream);
    }
    pending.resolve(verdict);
  }
}
