/**
 * The testing toolkit shared by Atoll's tests and its bench: start Atoll
 * and read its JSON logs and API ({@link Atoll}), managed child processes
 * with guaranteed cleanup ({@link ManagedProcess}), bounded waits
 * ({@link waitFor}), the browser checks' runner, /proc readers, real SRT peers, byte strings, and a
 * seeded pseudo-random generator ({@link SeededRandom}).
 *
 * Unit tests that run without permissions import `random.ts` and `bytes.ts`
 * alone: the rest uses `Deno.*`.
 *
 * @module
 */

export * from "./atoll.ts";
export * from "./browser.ts";
export * from "./bytes.ts";
export * from "./inspector.ts";
export * from "./peers.ts";
export * from "./process.ts";
export * from "./procfs.ts";
export * from "./random.ts";
export * from "./wait.ts";
