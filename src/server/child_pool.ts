/**
 * The pool of prestarted children: processes that have loaded libsrt and
 * wait for a connection, so a new peer does not wait for a process to
 * start.
 *
 * - At most `maxStarting` children start at once: a start is mostly CPU,
 *   and a hundred starting together finish together, all too late. A
 *   bounded number finish in turn, first in, first out.
 * - The pool holds `size` children when nothing happens. Each caller that
 *   had to wait for a child raises that floor by one, up to `max`, so the
 *   next burst finds more ready; after a quiet period the floor halves back
 *   toward `size`, and the idle children above it are retired.
 * - Callers waiting for a child ask for one each: the pool
 *   never starts more children than the floor plus the callers waiting.
 * - It backs off while children die young (a broken install must not
 *   become a fork loop).
 *
 * It only starts and keeps children; {@link ChildLauncher} says how one is
 * started, so the rules are tested with fake children and no processes.
 *
 * @module
 */

import { describeFailure } from "./file_shortage.ts";
import { logger } from "./log.ts";

/** What the pool needs of a child. */
export interface PooledChild {
  readonly pid: number;
  /** Whether it said `ready`: libsrt loaded, waiting for its connection. */
  readonly ready: boolean;
  /** Asks it to exit: a retired idle child. */
  requestShutdown(detail?: string): void;
}

/** Starts one child; it may throw (the pool then retries later). */
export type ChildLauncher<C> = () => C;

export interface PoolLimits {
  /** Idle children kept when nothing happens. */
  size: number;
  /** Idle children kept at most after bursts. */
  max: number;
  /** Children starting at once at most. */
  maxStarting: number;
}

const log = logger("server");

/** The longest wait between refills while children keep dying. */
const MAX_REFILL_DELAY_MS = 30_000;
/** The longest wait between refills while children cannot be started (out of descriptors, say). */
const MAX_RELAUNCH_DELAY_MS = 5000;
/** How long without a waiting caller before the floor halves. */
export const POOL_QUIET_MS = 60_000;

export class ChildPool<C extends PooledChild> {
  #limits: PoolLimits;
  #launch: ChildLauncher<C>;
  #now: () => number;
  /** Callers waiting for a child now. */
  #waiting: () => number;
  #children: C[] = [];
  /** Idle children wanted now: from `size` up to `max`. */
  #floor: number;
  /** When a caller last had to wait for a child. */
  #lastBusyMs: number;
  #failures = 0;
  /** Starts that failed in a row: logged once, retried with a back-off. */
  #launchFailures = 0;
  #refill: ReturnType<typeof setTimeout> | undefined;
  /** How long without a waiting caller before the floor halves. */
  #quietMs: number;
  /** Set while the floor is above `size`: looks again once a quiet period may have passed. */
  #quietCheck: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;

  constructor(
    limits: PoolLimits,
    launch: ChildLauncher<C>,
    options: { waiting?: () => number; now?: () => number; quietMs?: number } = {},
  ) {
    this.#limits = { ...limits, max: Math.max(limits.size, limits.max) };
    this.#launch = launch;
    this.#waiting = options.waiting ?? (() => 0);
    const now = options.now ?? (() => performance.now());
    this.#now = now;
    this.#quietMs = options.quietMs ?? POOL_QUIET_MS;
    this.#floor = limits.size;
    this.#lastBusyMs = now();
  }

  /** Ready children, waiting for a connection. */
  get idle(): C[] {
    return this.#children.filter((child) => child.ready);
  }

  /** Children still starting up. */
  get starting(): number {
    return this.#children.filter((child) => !child.ready).length;
  }

  /** Idle children the pool keeps now: `size`, more after bursts. */
  get floor(): number {
    return this.#floor;
  }

  /** Every child the pool holds. */
  get children(): readonly C[] {
    return this.#children;
  }

  /** A ready child, out of the pool; undefined when none is ready. */
  take(): C | undefined {
    const ready = this.#children.findIndex((child) => child.ready);
    return ready < 0 ? undefined : this.#children.splice(ready, 1)[0];
  }

  /** A caller had to wait for a child: the next burst should find one more ready. */
  outpaced(): void {
    this.#lastBusyMs = this.#now();
    this.#floor = Math.min(this.#limits.max, this.#floor + 1);
    this.#checkQuietLater();
  }

  /**
   * Starts children toward the floor plus the callers waiting, at most
   * `maxStarting` at once (unless stopped or backing off); after a quiet
   * period, retires idle children above a lowered floor.
   */
  /**
   * Whether the pool starts no child for now (an upgrade under way: its
   * idle children are stopped at the hand-over, and each start takes CPU
   * from the connections while the next main process starts).
   */
  paused = false;

  fill(): void {
    if (this.#stopped || this.paused) return;
    const waiting = this.#waiting();
    if (waiting > 0) this.#lastBusyMs = this.#now();
    else this.#shrinkIfQuiet();
    if (this.#refill !== undefined) return;
    const wanted = this.#floor + waiting;
    let starting = this.starting;
    try {
      while (this.#children.length < wanted && starting < this.#limits.maxStarting) {
        this.#children.push(this.#launch());
        starting++;
      }
    } catch (error) {
      this.#launchFailures++;
      const level = this.#launchFailures === 1 ? "error" : "debug";
      log[level]("Cannot start a child: {error}; retrying, logged again when children start", {
        error: describeFailure(error),
      });
      this.#scheduleRefill();
    }
  }

  /** A child said `ready`: children start again, so the back-off ends. */
  childReady(): void {
    this.#failures = 0;
    if (this.#launchFailures > 0) {
      log.info("Children start again, after {count} failed start(s)", {
        count: this.#launchFailures,
      });
      this.#launchFailures = 0;
    }
  }

  /**
   * A child exited. Returns true when it was one of the pool's (an idle
   * child that died: the pool refills after a back-off).
   */
  childExited(child: C): boolean {
    const index = this.#children.indexOf(child);
    if (index < 0) return false;
    this.#children.splice(index, 1);
    if (!this.#stopped) {
      this.#failures++;
      this.#scheduleRefill();
    }
    return true;
  }

  /** Starts no more children; returns the ones it holds, for the caller to stop. */
  stop(): C[] {
    this.#stopped = true;
    clearTimeout(this.#refill);
    this.#refill = undefined;
    clearTimeout(this.#quietCheck);
    this.#quietCheck = undefined;
    return [...this.#children];
  }

  /**
   * The floor shrinks in {@link fill}, which arrivals, ready children and
   * exits call; a server gone quiet calls it no more, so a timer does while
   * the floor is above `size`.
   */
  #checkQuietLater(): void {
    if (this.#stopped || this.#quietCheck !== undefined || this.#floor <= this.#limits.size) {
      return;
    }
    const dueMs = Math.max(0, this.#lastBusyMs + this.#quietMs - this.#now());
    this.#quietCheck = setTimeout(() => {
      this.#quietCheck = undefined;
      this.fill();
      this.#checkQuietLater();
    }, dueMs);
  }

  #shrinkIfQuiet(): void {
    const size = this.#limits.size;
    if (this.#floor <= size || this.#now() - this.#lastBusyMs < this.#quietMs) return;
    this.#lastBusyMs = this.#now();
    this.#floor = size + Math.floor((this.#floor - size) / 2);
    const surplus = this.idle.slice(this.#floor);
    for (const child of surplus) {
      this.#children.splice(this.#children.indexOf(child), 1);
      child.requestShutdown("the pool shrinks after a quiet period");
    }
    if (surplus.length > 0) {
      log.info("Pool: {count} idle child(ren) retired, {floor} kept", {
        count: surplus.length,
        floor: this.#floor,
      });
    }
  }

  #scheduleRefill(): void {
    if (this.#stopped || this.#refill !== undefined) return;
    const delay = this.#launchFailures > 0
      ? Math.min(MAX_RELAUNCH_DELAY_MS, 250 * 2 ** Math.min(this.#launchFailures - 1, 7))
      : Math.min(MAX_REFILL_DELAY_MS, 250 * 2 ** Math.min(this.#failures, 7));
    this.#refill = setTimeout(() => {
      this.#refill = undefined;
      this.fill();
    }, delay);
  }
}
