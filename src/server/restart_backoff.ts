/**
 * The delays before a dead helper process is started again, as the media
 * output and recorder supervisors use them: the first restart waits
 * {@link FIRST_RESTART_DELAY_MS}, each one in a row twice as long, up to
 * {@link MAX_RESTART_DELAY_MS}; a process that ran {@link STABLE_RUN_MS} or
 * more before it died starts the delays over. Time is passed in.
 *
 * @module
 */

export const FIRST_RESTART_DELAY_MS = 1000;
export const MAX_RESTART_DELAY_MS = 30_000;
/** A process that ran this long before it died is restarted after the first delay again. */
export const STABLE_RUN_MS = 60_000;

/** The first delay and the longest one. */
export interface RestartDelays {
  first: number;
  max: number;
}

export class RestartBackoff {
  #delays: RestartDelays;
  #now: () => number;
  #nextMs: number;
  #startedAt = 0;

  /** `now` gives monotonic milliseconds. */
  constructor(delays: RestartDelays | undefined, now: () => number) {
    this.#delays = delays ?? { first: FIRST_RESTART_DELAY_MS, max: MAX_RESTART_DELAY_MS };
    this.#now = now;
    this.#nextMs = this.#delays.first;
  }

  /** The process started now. */
  started(): void {
    this.#startedAt = this.#now();
  }

  /** The process exited: if it ran long enough, the next restart waits the first delay again. */
  exited(): void {
    if (this.#now() - this.#startedAt >= STABLE_RUN_MS) this.#nextMs = this.#delays.first;
  }

  /** How long to wait before this restart; the next one waits twice as long, up to the max. */
  nextDelayMs(): number {
    const delayMs = this.#nextMs;
    this.#nextMs = Math.min(delayMs * 2, this.#delays.max);
    return delayMs;
  }
}
