/**
 * A one-way stop signal for a child's loops: set once, by the main process,
 * a signal or stdin closing, and woken sleepers see it at once.
 *
 * @module
 */

/** What {@link StopFlag.until} found: the work's value, or nothing on a timeout or a stop. */
export type Waited<T> = { done: true; value: T } | { done: false };

/** Set once the main process (or a signal) asks this child to stop. */
export class StopFlag {
  #stopped = false;
  #detail: string | undefined;
  /** Sleepers still waiting; each one leaves the set when it wakes. */
  #sleepers = new Set<() => void>();
  #stoppedSignal: PromiseWithResolvers<void> | undefined;

  get stopped(): boolean {
    return this.#stopped;
  }

  /** How many `sleep()` calls are still pending. */
  get sleepers(): number {
    return this.#sleepers.size;
  }

  /** Why the main process asked to stop, when it said. */
  get detail(): string | undefined {
    return this.#detail;
  }

  /** Sets the flag; the first call's `detail` is kept. */
  stop(detail?: string): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#detail = detail;
    for (const wake of this.#sleepers) wake();
    this.#stoppedSignal?.resolve();
  }

  /**
   * Resolves once stopped, however long that takes. Unlike a long `sleep()`
   * it needs no timer: a child that waits for its connection this way has
   * not loaded Deno's timers yet (about 3 ms of CPU, BENCHMARKS.md).
   */
  whenStopped(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    this.#stoppedSignal ??= Promise.withResolvers<void>();
    return this.#stoppedSignal.promise;
  }

  /**
   * Waits for `work` at most `timeoutMs` (Infinity: no limit), and no longer
   * than until the flag is set: `{ done: true, value }` when `work` settled
   * first, `{ done: false }` on the timeout or a stop. `work` goes on; a
   * later call may wait for it again. Nothing outlives the wait: its timer
   * is cleared and it leaves the sleepers however it ends.
   */
  until<T>(work: Promise<T>, timeoutMs: number): Promise<Waited<T>> {
    if (this.#stopped) return Promise.resolve({ done: false });
    const { promise, resolve, reject } = Promise.withResolvers<Waited<T>>();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const leave = () => {
      clearTimeout(timer);
      this.#sleepers.delete(wake);
    };
    const wake = () => {
      leave();
      resolve({ done: false });
    };
    if (Number.isFinite(timeoutMs)) timer = setTimeout(wake, Math.max(0, timeoutMs));
    this.#sleepers.add(wake);
    work.then((value) => {
      leave();
      resolve({ done: true, value });
    }, (error) => {
      leave();
      reject(error);
    });
    return promise;
  }

  /** Resolves after `ms`, or at once when stopped. */
  sleep(ms: number): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    const { promise, resolve } = Promise.withResolvers<void>();
    // The receive loop sleeps hundreds of times a second for hours: a sleeper
    // must not outlive its own wakeup.
    const wake = () => {
      clearTimeout(timer);
      this.#sleepers.delete(wake);
      resolve();
    };
    const timer = setTimeout(wake, ms);
    this.#sleepers.add(wake);
    return promise;
  }
}
