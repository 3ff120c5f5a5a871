/**
 * Questions the output process puts to the main process and waits on
 * (access.ts: may this client watch; demand.ts: is this stream pulled).
 * One is under way at a time per key, and requests alike share its answer;
 * each ends with the main process's answer, by id, or `"unanswered"` once
 * its wait is over; at most `max` are under way at once. Each knows whether
 * it was asked since the latest reload ({@link PendingAsks.reset}), so that
 * an answer from before one is not kept.
 *
 * @module
 */

interface Ask<A> {
  id: number;
  key: string;
  generation: number;
  promise: Promise<A | "unanswered">;
  resolve(answer: A | "unanswered"): void;
  timer: ReturnType<typeof setTimeout>;
}

export class PendingAsks<A> {
  readonly #max: number;
  #byKey = new Map<string, Ask<A>>();
  #byId = new Map<number, Ask<A>>();
  #nextId = 1;
  #generation = 0;

  /** At most `max` asks under way at once. */
  constructor(max: number) {
    this.#max = max;
  }

  /** The answer to come of the ask under way for `key`; undefined when none is. */
  joined(key: string): Promise<A | "unanswered"> | undefined {
    return this.#byKey.get(key)?.promise;
  }

  /** Whether `max` asks are under way: no other may start. */
  get full(): boolean {
    return this.#byId.size >= this.#max;
  }

  /**
   * Starts an ask for `key`: `send` puts it to the main process with its id;
   * it ends `"unanswered"` after `waitMs` without an answer.
   */
  start(key: string, waitMs: number, send: (id: number) => void): Promise<A | "unanswered"> {
    const id = this.#nextId++;
    const { promise, resolve } = Promise.withResolvers<A | "unanswered">();
    const ask: Ask<A> = {
      id,
      key,
      generation: this.#generation,
      promise,
      resolve,
      timer: setTimeout(() => this.#settle(ask, "unanswered"), waitMs),
    };
    this.#byKey.set(key, ask);
    this.#byId.set(id, ask);
    send(id);
    return promise;
  }

  /**
   * Ends ask `id` with the main process's `answer`: its key, and whether it
   * was asked since the latest reload; undefined for an unknown or late id.
   */
  answer(id: number, answer: A): { key: string; current: boolean } | undefined {
    const ask = this.#byId.get(id);
    if (ask === undefined) return undefined;
    this.#settle(ask, answer);
    return { key: ask.key, current: ask.generation === this.#generation };
  }

  /** The rules may have changed: answers to the asks under way are not to be kept. */
  reset(): void {
    this.#generation++;
  }

  /** Every ask under way ends unanswered (the process stops). */
  close(): void {
    for (const ask of [...this.#byId.values()]) this.#settle(ask, "unanswered");
  }

  #settle(ask: Ask<A>, answer: A | "unanswered"): void {
    clearTimeout(ask.timer);
    this.#byId.delete(ask.id);
    if (this.#byKey.get(ask.key) === ask) this.#byKey.delete(ask.key);
    ask.resolve(answer);
  }
}
