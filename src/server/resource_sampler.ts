/**
 * What each connection costs: the main process reads its child's CPU time
 * and memory from /proc and stores them in the {@link ConnectionTable}
 * (through {@link ConnectionTable.sampled}), where the API, the metrics and
 * the dashboard read them.
 *
 * Once a second it reads `/proc/PID/stat` of every connection's child (about
 * 10 µs each, synchronously: 200 connections block the event loop about
 * 2 ms) and turns the CPU time used since the last read into a percentage.
 * `smaps_rollup` costs much more (the kernel walks every mapping: about
 * 0.8 ms for a Deno child), so it is read with an asynchronous read, which
 * the kernel serves on a worker thread while the event loop goes on, at most
 * every 5 s per connection, and each round reads only its share of the
 * connections, the longest unread first: 200 connections cost about 40
 * reads a second, not 200 at once every 5 s.
 *
 * Only connections in the table are read; a child that exited is skipped
 * until its record goes. Each read needs a file descriptor: when the main
 * process has none left, the round is skipped (the figures stay as they
 * were), logged once until a round works again.
 *
 * @module
 */

import type { ConnectionTable } from "./connection_table.ts";
import { fileShortageOf } from "./file_budget.ts";
import { describeFailure } from "./file_shortage.ts";
import { logger } from "./log.ts";
import { cpuPercent, parseCpuSeconds, parseSmapsRollup } from "./procfs.ts";

const log = logger("server");

/**
 * Where the sampler reads /proc; undefined: the process is gone. They throw
 * when the file could not be opened at all (no descriptor left).
 */
export interface ProcReaders {
  /** `/proc/PID/stat`, read synchronously (it is cheap). */
  readStat(pid: number): string | undefined;
  /** `/proc/PID/smaps_rollup`, read off the event loop (it is not). */
  readSmapsRollup(pid: number): Promise<string | undefined>;
}

/** Undefined for a process that is gone (or any other refusal); throws when out of descriptors. */
function goneUnlessShort(error: unknown): undefined {
  if (fileShortageOf(error) !== undefined) throw error;
  return undefined; // exited, and reaped
}

/** The real /proc. */
export const PROC: ProcReaders = {
  readStat(pid) {
    try {
      return Deno.readTextFileSync(`/proc/${pid}/stat`);
    } catch (error) {
      return goneUnlessShort(error);
    }
  },
  async readSmapsRollup(pid) {
    try {
      return await Deno.readTextFile(`/proc/${pid}/smaps_rollup`);
    } catch (error) {
      return goneUnlessShort(error);
    }
  },
};

export interface ResourceSamplerOptions {
  /** How often CPU is read, in ms; also the round's period. Default 1000. */
  cpuIntervalMs?: number;
  /** How often each connection's memory is read, in ms. Default 5000. */
  memoryIntervalMs?: number;
  /** Default: the real /proc. */
  proc?: ProcReaders;
  /** Monotonic ms. Default: `performance.now()`. */
  now?: () => number;
}

interface Tracked {
  pid: number;
  /** The last CPU reading, for the next percentage. */
  cpu: { cpuSeconds: number; atMs: number } | undefined;
  /** When its memory is due to be read again (monotonic ms). */
  memoryDueMs: number;
}

export class ResourceSampler {
  readonly #table: ConnectionTable<{ readonly pid: number }>;
  readonly #cpuIntervalMs: number;
  readonly #memoryIntervalMs: number;
  readonly #proc: ProcReaders;
  readonly #now: () => number;
  readonly #tracked = new Map<string, Tracked>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #round: Promise<void> | undefined;
  /** Rounds skipped in a row because a read failed; logged at the first, and when one works. */
  #skipped = 0;

  constructor(
    table: ConnectionTable<{ readonly pid: number }>,
    options: ResourceSamplerOptions = {},
  ) {
    this.#table = table;
    this.#cpuIntervalMs = options.cpuIntervalMs ?? 1000;
    this.#memoryIntervalMs = options.memoryIntervalMs ?? 5000;
    this.#proc = options.proc ?? PROC;
    this.#now = options.now ?? (() => performance.now());
  }

  /** Samples every {@link ResourceSamplerOptions.cpuIntervalMs} until {@link stop}. */
  start(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => {
      // A round still reading memory when the next is due: skip this one.
      if (this.#round === undefined) {
        this.#round = this.sample()
          // Figures to show are never worth the main process: log, and try again next round.
          .catch((error) =>
            log.error("Resource sampling failed: {error}", { error: String(error) })
          )
          .finally(() => this.#round = undefined);
      }
    }, this.#cpuIntervalMs);
  }

  /** Stops sampling; resolves once a round under way has finished. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#round;
  }

  /**
   * One round: the CPU of every connection's child, then the memory of the
   * children whose turn it is. Resolves once every figure read is stored.
   * A read that fails (no descriptor left) ends the round; it never throws.
   */
  async sample(): Promise<void> {
    try {
      await this.#sampleAll();
    } catch (error) {
      if (this.#skipped++ === 0) {
        log.warning(
          "Resource sampling skipped until /proc can be read again, CPU and memory figures are stale: {error}",
          { error: describeFailure(error) },
        );
      }
      return;
    }
    if (this.#skipped > 0) {
      log.info("Resource sampling works again after {rounds} skipped round(s)", {
        rounds: this.#skipped,
      });
      this.#skipped = 0;
    }
  }

  async #sampleAll(): Promise<void> {
    const now = this.#now();
    const seen = new Set<string>();
    for (const connection of this.#table.values()) {
      const { id } = connection;
      const pid = connection.child.pid;
      seen.add(id);
      let tracked = this.#tracked.get(id);
      if (tracked === undefined || tracked.pid !== pid) {
        tracked = { pid, cpu: undefined, memoryDueMs: now };
        this.#tracked.set(id, tracked);
      }
      const stat = this.#proc.readStat(pid);
      if (stat === undefined) continue;
      const cpuSeconds = parse(parseCpuSeconds, stat, pid);
      if (cpuSeconds === undefined) continue;
      const previous = tracked.cpu;
      tracked.cpu = { cpuSeconds, atMs: now };
      if (previous === undefined) continue;
      const percent = cpuPercent(previous, tracked.cpu);
      if (percent !== null) this.#table.sampled(id, { cpuPercent: percent });
    }
    for (const id of this.#tracked.keys()) if (!seen.has(id)) this.#tracked.delete(id);
    await this.#sampleMemory(now);
  }

  /**
   * Reads the memory of the connections that are due, the longest waiting
   * first, at most this round's share: enough that each is read every
   * memory interval.
   */
  async #sampleMemory(now: number): Promise<void> {
    const share = Math.ceil(this.#tracked.size * this.#cpuIntervalMs / this.#memoryIntervalMs);
    const due = [...this.#tracked.entries()]
      .filter(([, tracked]) => tracked.memoryDueMs <= now)
      .sort(([, a], [, b]) => a.memoryDueMs - b.memoryDueMs)
      .slice(0, share);
    for (const [id, tracked] of due) {
      tracked.memoryDueMs = now + this.#memoryIntervalMs;
      const text = await this.#proc.readSmapsRollup(tracked.pid);
      if (text === undefined) continue;
      const memory = parse(parseSmapsRollup, text, tracked.pid);
      // Gone while it was read: sampled() ignores an id it no longer has.
      if (memory !== undefined) this.#table.sampled(id, memory);
    }
  }
}

/** `parser(text)`, or undefined (logged) when the kernel wrote something unexpected. */
function parse<T>(parser: (text: string) => T, text: string, pid: number): T | undefined {
  try {
    return parser(text);
  } catch (error) {
    // A zombie's smaps_rollup is empty, say.
    log.debug("Cannot read the resources of child {pid}: {error}", { pid, error: String(error) });
    return undefined;
  }
}
