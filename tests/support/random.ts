/**
 * A seeded pseudo-random generator for fuzz tests and generated test data:
 * the same seed gives the same sequence on every run and every machine, so
 * a failure can be replayed. Pure (no `Deno.*`): tests that run without
 * permissions import it.
 *
 * @module
 */

/** Mulberry32: a small, fast 32-bit generator with a good spread, not for cryptography. */
export class SeededRandom {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** The next integer in [0, 2^32). */
  uint32(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** The next number in [0, 1). */
  float(): number {
    return this.uint32() / 4294967296;
  }

  /** `length` bytes, each the low byte of the next {@link uint32}. */
  bytes(length: number): Uint8Array<ArrayBuffer> {
    const bytes = new Uint8Array(length);
    for (let i = 0; i < length; i++) bytes[i] = this.uint32() & 0xff;
    return bytes;
  }
}
