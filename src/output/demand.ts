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
import { PendingAsks } from "./pending_asks.ts";

/** Streams asked about at once; asks for more are `"unanswered"` at once. */
export const MAX_PENDING_DEMANDS = 1000;
/** How long a "nothing pulls it" is kept. */
export const KEPT_REFUSAL_MS = 5000;
/** Streams whose refusal is kept at once; more drop the oldest. */
const MAX_KEPT_REFUSALS = 10_000;

/** How long to wait for the stream (0: nothing pulls it), or no answer in time. */
export type DemandVerdict = number | "unanswered";

export class DemandGate {
  #send: (id: number, stream: string) => void;
  #now: () => number;
  #waitMs = DEFAULT_ACCESS_WAIT_MS;
  #asks = new PendingAsks<number>(MAX_PENDING_DEMANDS);
  /** Streams nothing pulls, until when that is kept; oldest first. */
  #refused = new Map<string, number>();

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
    const joined = this.#asks.joined(stream);
    if (joined !== undefined) return joined;
    if (this.#asks.full) return Promise.resolve("unanswered");
    return this.#asks.start(stream, this.#waitMs, (id) => this.#send(id, stream));
  }

  /** The main process answered `id` (an unknown or late id is ignored). */
  answered(id: number, waitMs: number): void {
    const asked = this.#asks.answer(id, waitMs);
    if (waitMs === 0 && asked?.current) {
      this.#refused.delete(asked.key);
      if (this.#refused.size >= MAX_KEPT_REFUSALS) {
        this.#refused.delete(this.#refused.keys().next().value!);
      }
      this.#refused.set(asked.key, this.#now() + KEPT_REFUSAL_MS);
    }
  }

  /** The rules may have changed: kept refusals go; later asks wait up to `waitMs` for an answer. */
  reset(waitMs: number): void {
    this.#waitMs = waitMs;
    this.#asks.reset();
    this.#refused.clear();
  }

  /** Every waiting ask ends unanswered (the process stops). */
  close(): void {
    this.#asks.close();
  }
}
