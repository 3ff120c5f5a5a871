/**
 * A token bucket: at most `rate` events a second, with a burst of one
 * second's worth. Pure: the time is passed in (monotonic ms).
 *
 * @module
 */

export class TokenBucket {
  readonly #rate: number;
  #tokens: number;
  #updatedMs: number;

  /** A full bucket at `nowMs`, refilling at `ratePerSecond`. */
  constructor(ratePerSecond: number, nowMs: number) {
    this.#rate = ratePerSecond;
    this.#tokens = ratePerSecond;
    this.#updatedMs = nowMs;
  }

  /** Takes one token at `nowMs`; false when none is left. */
  take(nowMs: number): boolean {
    this.#tokens = this.#tokensAt(nowMs);
    this.#updatedMs = nowMs;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** Whether it has refilled by `nowMs`: then it is the same as a new bucket. */
  isFull(nowMs: number): boolean {
    return this.#tokensAt(nowMs) >= this.#rate;
  }

  #tokensAt(nowMs: number): number {
    return Math.min(this.#rate, this.#tokens + ((nowMs - this.#updatedMs) * this.#rate) / 1000);
  }
}
