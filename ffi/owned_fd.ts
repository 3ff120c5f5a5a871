/**
 * {@link OwnedFd}: a file descriptor with exactly one owner, who closes it
 * once. Functions that only use an fd take its number (`owned.fd`);
 * functions that create or receive one return an `OwnedFd`.
 *
 * @module
 */

import { check, libc } from "./libc.ts";

/**
 * One open file descriptor and the duty to close it. `close()` is safe to
 * call twice, `using` closes it at the end of a scope, and {@link take} or
 * {@link release} hand the duty on, after which this object closes nothing:
 * for an fd that libsrt's `srt_bind_acquire` closes itself, say, and that
 * must not be closed a second time.
 */
export class OwnedFd {
  #fd: number | undefined;

  constructor(fd: number) {
    if (!Number.isInteger(fd) || fd < 0) {
      throw new RangeError(`Cannot own file descriptor ${fd}: not a descriptor number`);
    }
    this.#fd = fd;
  }

  /** The descriptor's number, for a call that uses it. Throws once closed or handed on. */
  get fd(): number {
    if (this.#fd === undefined) throw new TypeError("File descriptor is closed or handed on");
    return this.#fd;
  }

  /** Whether this object no longer owns a descriptor (closed, taken or released). */
  get closed(): boolean {
    return this.#fd === undefined;
  }

  /** Closes the descriptor; does nothing if it is already closed or handed on. */
  close(): void {
    const fd = this.#fd;
    if (fd === undefined) return;
    // Forgotten first: after a failed close(2) the number is not ours on Linux either.
    this.#fd = undefined;
    check("close", libc().close(fd));
  }

  /** Moves ownership to a new `OwnedFd`, e.g. out of a `using` scope that succeeded. */
  take(): OwnedFd {
    return new OwnedFd(this.release());
  }

  /** Gives up ownership and returns the number: whoever gets it must close it. */
  release(): number {
    const fd = this.fd;
    this.#fd = undefined;
    return fd;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
