/**
 * The pool of prestarted children: processes that have loaded libsrt and
 * wait for a connection, so a new peer does not wait for a process to
 * start. The pool refills itself after each hand-over, and backs off while
 * children die young (a broken install must not become a fork loop).
 *
 * It only starts and keeps children; {@link ChildLauncher} says how one is
 * started, so the rules are tested with fake children and no processes.
 *
 * @module
 */

import { logger } from "./log.ts";

/** What the pool needs of a child. */
export interface PooledChild {
  readonly pid: number;
  /** Whether it said `ready`: libsrt loaded, waiting for its connection. */
  readonly ready: boolean;
}

/** Starts one child; it may throw (the pool then retries later). */
export type ChildLauncher<C> = () => C;

const log = logger("server");

/** The longest wait between refills while children keep dying. */
const MAX_REFILL_DELAY_MS = 30_000;

export class ChildPool<C extends PooledChild> {
  #size: number;
  #launch: ChildLauncher<C>;
  #children: C[] = [];
  #failures = 0;
  #refill: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;

  constructor(size: number, launch: ChildLauncher<C>) {
    this.#size = size;
    this.#launch = launch;
  }

  /** Ready children, waiting for a connection. */
  get idle(): C[] {
    return this.#children.filter((child) => child.ready);
  }

  /** Children still starting up. */
  get starting(): number {
    return this.#children.filter((child) => !child.ready).length;
  }

  /** Every child the pool holds. */
  get children(): readonly C[] {
    return this.#children;
  }

  /**
   * A ready child, else one still starting, else a new one; it leaves the
   * pool. Throws when a new one cannot be started.
   */
  take(): C {
    const ready = this.#children.findIndex((child) => child.ready);
    if (ready >= 0) return this.#children.splice(ready, 1)[0]!;
    return this.#children.shift() ?? this.#launch();
  }

  /** Tops the pool up to its size (unless stopped or backing off). */
  fill(): void {
    if (this.#stopped || this.#refill !== undefined) return;
    try {
      while (this.#children.length < this.#size) this.#children.push(this.#launch());
    } catch (error) {
      log.error("Cannot start a child: {error}", { error: String(error) });
      this.#scheduleRefill();
    }
  }

  /** A child said `ready`: children start again, so the back-off ends. */
  childReady(): void {
    this.#failures = 0;
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
    return [...this.#children];
  }

  #scheduleRefill(): void {
    if (this.#stopped || this.#refill !== undefined) return;
    const delay = Math.min(MAX_REFILL_DELAY_MS, 250 * 2 ** Math.min(this.#failures, 7));
    this.#refill = setTimeout(() => {
      this.#refill = undefined;
      this.fill();
    }, delay);
  }
}
